"""A run of the simulator: the network, the fire, and the readings it produces."""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import cached_property, lru_cache
from statistics import NormalDist
from typing import NamedTuple

import orjson

from simulator.config import DEFAULT_CHAIN_LENGTH, DEFAULT_WINDOW_MS, SimulationConfig
from simulator.events import is_valid_event
from simulator.faults import apply_faults
from simulator.fire import Infection, branch_points, spread
from simulator.network import Network, Node
from simulator.temperature import TemperatureModel
from simulator.topologies import build_network
from simulator.truth import Path, find_paths


class _SensorRow(NamedTuple):
    """What the reading generator needs to know about one sensor."""

    node: Node
    offset: int  # ms after the start of each interval at which it reports
    micro: float  # its micro-climate offset, C
    battery0: float
    drain: float  # battery percent lost per interval
    region_index: int
    infected_step: int  # -1: never burns
    infected_by: str | None


class Simulation:
    """One deterministic run: `events()` (event-time order, no faults), `delivered()` (arrival order,
    after faults) and `truth()` (the alerted paths among the delivered readings).

    Every call to `events()`/`delivered()` replays the same sequence from the seed.
    """

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.network: Network = build_network(config.topology, config.seed)
        self.infections: dict[str, Infection] = spread(
            self.network, config.fire, config.steps, config.seed
        )
        self.temperature = TemperatureModel(config.temperature, config.start_ms, config.interval_ms)
        rng = random.Random(f"sensors-{config.seed}")
        jitter = config.report_jitter
        # Per-sensor constants, drawn once in node order: report offset, micro-climate, battery.
        self._sensors = [
            (
                node,
                rng.randrange(config.interval_ms) if jitter else 0,
                self.temperature.microclimate(rng),
                rng.uniform(80.0, 100.0),
                rng.uniform(0.001, 0.01),
            )
            for node in self.network.nodes
        ]

    # -- the stream ------------------------------------------------------------------------------
    def _sensor_rows(self) -> list[_SensorRow]:
        """Per-sensor constants in report order (by offset within the interval, then node order)."""
        region_index: dict[str, int] = {}
        rows = []
        for node, offset, micro, battery0, drain in sorted(self._sensors, key=lambda s: s[1]):
            inf = self.infections.get(node.id)
            rows.append(_SensorRow(
                node, offset, micro, battery0, drain,
                region_index.setdefault(node.region, len(region_index)),
                inf.step if inf else -1,
                inf.infected_by if inf else None,
            ))
        return rows

    def _readings(
        self, rows: list[_SensorRow]
    ) -> Iterator[tuple[int, list[int], list[str | None], list[float] | None]]:
        """Per step: (step, temperatures in centi-degrees, infectedBy values, batteries), aligned
        with `rows`. A reading's temperature is `centi / 100`: the float whose repr has at most two
        decimals.

        The one place readings are computed, so `events()` and `jsonl_chunks()` always agree.
        Built for speed: every sensor first gets an ambient reading (list comprehensions, noise
        from a table of normal quantiles indexed by random bits), then the few infected ones are
        overwritten.
        """
        cfg = self.config
        model = self.temperature
        rng = random.Random(f"readings-{cfg.seed}")
        gauss, bits = rng.gauss, rng.getrandbits
        table = _normal_quantiles()
        noise = cfg.temperature.noise_c
        noise_centi = [round(noise * q * 100) for q in table]  # readings are in 0.01 C steps
        threshold = cfg.temperature.threshold_c
        burn = cfg.fire.burn_minutes
        burning_c, burning_noise = cfg.temperature.burning_c, cfg.temperature.burning_noise_c
        hot_floor, cool_ceiling = threshold + 0.5, threshold - 1.0
        region_lon: dict[int, float] = {}
        for row in rows:
            region_lon.setdefault(row.region_index, row.node.lon)
        micro_centi = [(row.region_index, round(row.micro * 100)) for row in rows]
        battery = [(row.battery0, row.drain) for row in rows] if cfg.battery else None
        batteries: list[float] | None = None
        infected = sorted((row.infected_step, i) for i, row in enumerate(rows) if row.infected_step >= 0)
        active: list[int] = []  # rows infected by the current step
        n, k = len(rows), 0
        for step in range(cfg.steps):
            ambient = [model.ambient(step, region_lon[i]) for i in range(len(region_lon))]
            ambient_centi = [round(a * 100) for a in ambient]
            centis = [ambient_centi[r] + m + noise_centi[bits(16)] for r, m in micro_centi]
            bys: list[str | None] = [None] * n
            while k < len(infected) and infected[k][0] <= step:
                active.append(infected[k][1])
                k += 1
            for i in active:
                ridx, inf_step, by = rows[i].region_index, rows[i].infected_step, rows[i].infected_by
                bys[i] = by
                if burn is None or step - inf_step < burn:
                    temp = max(hot_floor, gauss(burning_c, burning_noise))
                else:  # burnt out: cooling, and never hot again
                    cooled = model.cooling(ambient[ridx] + rows[i].micro, step - inf_step - burn)
                    temp = min(cool_ceiling, cooled + noise_centi[bits(16)] / 100)
                centis[i] = round(temp * 100)
            if battery and step % BATTERY_REPORT_STEPS == 0:  # the gauge updates now and then
                batteries = [round(b0 - drain * step, 3) for b0, drain in battery]
            yield step, centis, bys, batteries

    def events(self) -> Iterator[dict]:
        """Every sensor's reading at every interval, in event-time order (ties: node order)."""
        cfg = self.config
        rows = self._sensor_rows()
        for step, centis, bys, batteries in self._readings(rows):
            base_ts = cfg.start_ms + step * cfg.interval_ms
            suffix = f":{step}"
            for i, row in enumerate(rows):
                node = row.node
                nid = node.id
                ev = {
                    "event_id": nid + suffix,
                    "node": nid,
                    "region": node.region,
                    "ts": base_ts + row.offset,
                    "temperature": centis[i] / 100,
                    "infectedBy": bys[i],
                    "lat": node.lat,
                    "lon": node.lon,
                }
                if batteries is not None:
                    ev["battery"] = batteries[i]
                yield ev

    def hot_events(self, threshold: float | None = None) -> Iterator[dict]:
        """Only the readings at or above the threshold, in event-time order (no faults).

        The same dicts `events()` yields, without building the other ~98 %: what `find_paths`
        needs, for a fraction of the cost.
        """
        cfg = self.config
        thr = cfg.temperature.threshold_c if threshold is None else threshold
        rows = self._sensor_rows()
        for step, centis, bys, batteries in self._readings(rows):
            base_ts = cfg.start_ms + step * cfg.interval_ms
            for i, centi in enumerate(centis):
                temp = centi / 100
                if temp >= thr:
                    node = rows[i].node
                    ev = {"event_id": f"{node.id}:{step}", "node": node.id, "region": node.region,
                          "ts": base_ts + rows[i].offset, "temperature": temp, "infectedBy": bys[i],
                          "lat": node.lat, "lon": node.lon}
                    if batteries is not None:
                        ev["battery"] = batteries[i]
                    yield ev

    def jsonl_chunks(self, hot_events: list[dict] | None = None) -> Iterator[bytes]:
        """`events()` as JSON Lines, one bytes chunk per interval: the fast path for file sinks.

        Each sensor gets a pre-encoded line template, so a reading costs one `%` format instead of
        a dict and a serializer call. The lines decode to exactly the dicts `events()` yields.
        If `hot_events` is a list, the readings at or above the threshold are appended to it as
        dicts (what `find_paths` needs), in the same pass.
        """
        cfg = self.config
        rows = self._sensor_rows()
        templates = [_line_template(row.node, cfg.battery) for row in rows]
        offsets = [row.offset for row in rows]
        by_json = {row.infected_by: orjson.dumps(row.infected_by) for row in rows}
        threshold = cfg.temperature.threshold_c
        centi_text = _centi_texts()
        battery_source: list[float] | None = None
        battery_text: list[bytes] = []
        for step, centis, bys, batteries in self._readings(rows):
            base_ts = cfg.start_ms + step * cfg.interval_ms
            by_text = [by_json[by] for by in bys]
            if min(centis) >= _CENTI_MIN and max(centis) <= _CENTI_MAX:
                temp_text = [centi_text[c - _CENTI_MIN] for c in centis]
            else:
                temp_text = [repr(c / 100).encode() for c in centis]
            if batteries is not None:
                if batteries is not battery_source:  # batteries change every few steps only
                    battery_source, battery_text = batteries, [repr(b).encode() for b in batteries]
                lines = [
                    tmpl % (step, base_ts + off, temp, by, batt)
                    for tmpl, off, temp, by, batt in zip(templates, offsets, temp_text, by_text, battery_text)
                ]
            else:
                lines = [
                    tmpl % (step, base_ts + off, temp, by)
                    for tmpl, off, temp, by in zip(templates, offsets, temp_text, by_text)
                ]
            if hot_events is not None:
                hot_events.extend(
                    orjson.loads(lines[i]) for i, centi in enumerate(centis) if centi / 100 >= threshold
                )
            yield b"".join(lines)

    def delivered(self) -> Iterator[dict | bytes]:
        """The readings as a receiver sees them, in arrival order, after the configured faults.

        Well-formed readings are dicts; malformed records are the raw `bytes` that were sent.
        """
        return apply_faults(self.events(), self.config, self.network)

    # -- ground truth ----------------------------------------------------------------------------
    def truth(
        self,
        chain_length: int = DEFAULT_CHAIN_LENGTH,
        window_ms: int = DEFAULT_WINDOW_MS,
        threshold: float | None = None,
    ) -> set[Path]:
        """`find_paths` over the valid, de-duplicated delivered readings.

        So it is what a correct detector fed `delivered()` must alert: drops and clock skew can
        remove paths, spikes (infectedBy null) add none, malformed records count for nothing.
        """
        thr = self.config.temperature.threshold_c if threshold is None else threshold
        if not self.config.faults.any:  # delivered == events: skip building the cool readings
            return find_paths(self.hot_events(thr), chain_length, window_ms, thr)
        return find_paths(self.valid_delivered(), chain_length, window_ms, thr)

    def valid_delivered(self) -> Iterator[dict]:
        """The well-formed delivered readings, each event_id once (the first arrival)."""
        seen: set[str] = set()
        for rec in self.delivered():
            if is_valid_event(rec) and rec["event_id"] not in seen:
                seen.add(rec["event_id"])
                yield rec

    def event_truth(self, chain_length: int = DEFAULT_CHAIN_LENGTH, window_ms: int = DEFAULT_WINDOW_MS,
                    threshold: float | None = None) -> set[Path]:
        """`find_paths` over `events()`: the paths of the fire itself, before any fault."""
        thr = self.config.temperature.threshold_c if threshold is None else threshold
        return find_paths(self.hot_events(thr), chain_length, window_ms, thr)

    @cached_property
    def branch_points(self) -> dict[str, list[str]]:
        """Nodes that infected two or more neighbours (a branching fire)."""
        return branch_points(self.infections)

    def infection_tree(self) -> dict[str, dict]:
        """node -> {region, infectedBy, step, ts}: who set each node alight, and when (first hot reading)."""
        offsets = {node.id: offset for node, offset, *_ in self._sensors}
        cfg = self.config
        return {
            nid: {
                "region": self.network.by_id[nid].region,
                "infectedBy": inf.infected_by,
                "step": inf.step,
                "ts": cfg.start_ms + inf.step * cfg.interval_ms + offsets[nid],
            }
            for nid, inf in sorted(self.infections.items(), key=lambda kv: (kv[1].step, kv[0]))
        }


BATTERY_REPORT_STEPS = 10  # a sensor's battery reading is refreshed every this many intervals


@lru_cache(maxsize=1)
def _normal_quantiles() -> tuple[float, ...]:
    """2**16 evenly spaced quantiles of the standard normal: a fast, deterministic noise source."""
    dist = NormalDist()
    return tuple(dist.inv_cdf((i + 0.5) / 65536) for i in range(65536))


_CENTI_MIN, _CENTI_MAX = -10_000, 20_000  # -100 C .. 200 C: the readings the model can produce


@lru_cache(maxsize=1)
def _centi_texts() -> list[bytes]:
    """JSON text of every temperature from -100.00 to 200.00 C, indexed by centi-degrees - _CENTI_MIN."""
    return [repr(c / 100).encode() for c in range(_CENTI_MIN, _CENTI_MAX + 1)]


def _line_template(node: Node, battery: bool) -> bytes:
    """A node's JSONL line with %-slots for step, ts, and the JSON text of temperature, infectedBy
    (and battery)."""
    def lit(value: object) -> bytes:
        return orjson.dumps(value).replace(b"%", b"%%")

    event_id_prefix = lit(node.id + ":")[:-1]  # the opening quote and "<node>:", closed after the step
    parts = [
        b'{"event_id":', event_id_prefix, b'%d"', b',"node":', lit(node.id), b',"region":', lit(node.region),
        b',"ts":%d,"temperature":%b,"infectedBy":%b,"lat":', lit(node.lat), b',"lon":', lit(node.lon),
    ]
    if battery:
        parts.append(b',"battery":%b')
    parts.append(b"}\n")
    return b"".join(parts)


def simulate(config: SimulationConfig) -> Simulation:
    """Set up a deterministic run for `config` (network built, fire spread; readings are lazy)."""
    return Simulation(config)
