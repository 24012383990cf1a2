"""A run of the simulator: the network, the fire, and the readings it produces."""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import cached_property

import orjson

from simulator.config import DEFAULT_CHAIN_LENGTH, DEFAULT_WINDOW_MS, SimulationConfig
from simulator.events import is_valid_event
from simulator.faults import apply_faults
from simulator.fire import Infection, branch_points, spread
from simulator.network import Network, Node
from simulator.temperature import TemperatureModel
from simulator.topologies import build_network
from simulator.truth import Path, find_paths


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
    def _sensor_rows(self) -> list[tuple]:
        """Per-sensor constants in report order (by offset within the interval, then node order)."""
        region_index: dict[str, int] = {}
        rows = []
        for node, offset, micro, battery0, drain in sorted(self._sensors, key=lambda s: s[1]):
            inf = self.infections.get(node.id)
            rows.append((
                node, offset, micro, battery0, drain,
                region_index.setdefault(node.region, len(region_index)),
                inf.step if inf else -1,
                inf.infected_by if inf else None,
            ))
        return rows

    def _readings(self, rows: list[tuple]) -> Iterator[tuple[int, list[float], list[str | None]]]:
        """Per step: (step, temperatures, infectedBy values), aligned with `rows`.

        The one place readings are computed, so `events()` and `jsonl_chunks()` always agree.
        """
        cfg = self.config
        model = self.temperature
        gauss = random.Random(f"readings-{cfg.seed}").gauss
        noise = cfg.temperature.noise_c
        threshold = cfg.temperature.threshold_c
        burn = cfg.fire.burn_minutes
        burning_c, burning_noise = cfg.temperature.burning_c, cfg.temperature.burning_noise_c
        hot_floor, cool_ceiling = threshold + 0.5, threshold - 1.0
        region_lon: dict[int, float] = {}
        for row in rows:
            region_lon.setdefault(row[5], row[0].lon)
        for step in range(cfg.steps):
            ambient = [model.ambient(step, region_lon[i]) for i in range(len(region_lon))]
            temps: list[float] = []
            bys: list[str | None] = []
            for (_node, _offset, micro, _b0, _drain, ridx, inf_step, by) in rows:
                if inf_step < 0 or step < inf_step:
                    temp = ambient[ridx] + micro + gauss(0.0, noise)
                    by = None
                elif burn is None or step - inf_step < burn:
                    temp = gauss(burning_c, burning_noise)
                    if temp < hot_floor:
                        temp = hot_floor
                else:
                    temp = model.cooling(ambient[ridx] + micro, step - inf_step - burn) + gauss(0.0, noise)
                    if temp > cool_ceiling:  # a burnt-out sensor never reads hot again
                        temp = cool_ceiling
                temps.append(round(temp, 2))
                bys.append(by)
            yield step, temps, bys

    def events(self) -> Iterator[dict]:
        """Every sensor's reading at every interval, in event-time order (ties: node order)."""
        cfg = self.config
        battery = cfg.battery
        rows = self._sensor_rows()
        for step, temps, bys in self._readings(rows):
            base_ts = cfg.start_ms + step * cfg.interval_ms
            suffix = f":{step}"
            for (node, offset, _m, battery0, drain, *_), temp, by in zip(rows, temps, bys):
                nid = node.id
                ev = {
                    "event_id": nid + suffix,
                    "node": nid,
                    "region": node.region,
                    "ts": base_ts + offset,
                    "temperature": temp,
                    "infectedBy": by,
                    "lat": node.lat,
                    "lon": node.lon,
                }
                if battery:
                    ev["battery"] = round(battery0 - drain * step, 3)
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
        templates = [_line_template(row[0], cfg.battery) for row in rows]
        by_json = [orjson.dumps(row[7]) for row in rows]
        for step, temps, bys in self._readings(rows):
            base_ts = cfg.start_ms + step * cfg.interval_ms
            if cfg.battery:
                lines = [
                    tmpl % (step, base_ts + row[1], temp, b"null" if by is None else bj,
                            round(row[3] - row[4] * step, 3))
                    for tmpl, row, temp, by, bj in zip(templates, rows, temps, bys, by_json)
                ]
            else:
                lines = [
                    tmpl % (step, base_ts + row[1], temp, b"null" if by is None else bj)
                    for tmpl, row, temp, by, bj in zip(templates, rows, temps, bys, by_json)
                ]
            if hot_events is not None:
                threshold = cfg.temperature.threshold_c
                hot_events.extend(
                    orjson.loads(lines[i]) for i, temp in enumerate(temps) if temp >= threshold
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
        return find_paths(self.events(), chain_length, window_ms, thr)

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


def _line_template(node: Node, battery: bool) -> bytes:
    """A node's JSONL line with %-slots for step, ts, temperature, infectedBy (and battery)."""
    def lit(value: object) -> bytes:
        return orjson.dumps(value).replace(b"%", b"%%")

    event_id_prefix = lit(node.id + ":")[:-1]  # the opening quote and "<node>:", closed after the step
    parts = [
        b'{"event_id":', event_id_prefix, b'%d"', b',"node":', lit(node.id), b',"region":', lit(node.region),
        b',"ts":%d,"temperature":%r,"infectedBy":%b,"lat":', lit(node.lat), b',"lon":', lit(node.lon),
    ]
    if battery:
        parts.append(b',"battery":%r')
    parts.append(b"}\n")
    return b"".join(parts)


def simulate(config: SimulationConfig) -> Simulation:
    """Set up a deterministic run for `config` (network built, fire spread; readings are lazy)."""
    return Simulation(config)
