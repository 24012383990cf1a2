"""Alerts: ids depend only on region + path; the JSON line carries every field of an alert record."""

from __future__ import annotations

import json
import pickle

from cep.flink import MatchContext
from jobs.bushfire.alerts import alert_id, alert_line, build_alert, console_line
from jobs.bushfire.functions import ARRIVED, AlertOncePerPath


def _readings(region: str, nodes: list[str], start: int) -> list[dict]:
    return [
        {
            "event_id": f"{n}:{i}",
            "node": n,
            "region": region,
            "ts": start + 60_000 * i,
            "temperature": 60.0 + i,
            "infectedBy": nodes[i - 1] if i else n,
            "lat": -33.0,
            "lon": 150.0,
            "battery": 3.3,
        }
        for i, n in enumerate(nodes)
    ]


def test_alert_id_is_a_function_of_region_and_path_only() -> None:
    early = build_alert(_readings("r1", ["a", "b", "c"], 0), detected_at=1)
    late = build_alert(_readings("r1", ["a", "b", "c"], 120_000), detected_at=2)
    assert early["alert_id"] == late["alert_id"] == alert_id("r1", ["a", "b", "c"])
    assert alert_id("r2", ["a", "b", "c"]) != early["alert_id"] != alert_id("r1", ["a", "c", "b"])


def test_alert_line_has_the_contract_fields() -> None:
    alert = json.loads(alert_line(build_alert(_readings("r1", ["a", "b"], 1000), detected_at=99)))
    assert set(alert) == {"alert_id", "region", "path", "first_ts", "last_ts", "readings", "detected_at"}
    assert alert["path"] == ["a", "b"] and (alert["first_ts"], alert["last_ts"]) == (1000, 61_000)
    assert alert["readings"][1] == {
        "node": "b",
        "ts": 61_000,
        "temperature": 61.0,
        "lat": -33.0,
        "lon": 150.0,
    }
    assert alert["detected_at"] == 99


def test_console_line_names_region_path_and_times() -> None:
    line = console_line(build_alert(_readings("r1", ["a", "b"], 0), detected_at=5))
    assert line.startswith("ALERT region r1: a → b") and "1970-01-01T00:00:00.000Z" in line


def _match(region: str, nodes: list[str], start: int) -> dict[str, list[dict]]:
    return {f"n{i + 1}": [r] for i, r in enumerate(_readings(region, nodes, start))}




class _KeyedValueState:
    """A ValueState of one operator: a value per key, for whichever key is current (as in Flink)."""

    def __init__(self) -> None:
        self.values: dict = {}
        self.current_key = None
        self.reads = 0

    def value(self):
        self.reads += 1
        return self.values.get(self.current_key)

    def update(self, value) -> None:
        self.values[self.current_key] = pickle.loads(pickle.dumps(value))  # Flink keeps a copy

    def clear(self) -> None:
        self.values.pop(self.current_key, None)


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self) -> None:
        self.count += 1


class _RuntimeContext:
    def __init__(self) -> None:
        self.state = _KeyedValueState()
        self.counters: dict[str, _Counter] = {}

    def get_state(self, descriptor):
        return self.state

    def get_metrics_group(self):
        return self

    def add_group(self, name):
        return self

    def counter(self, name):
        return self.counters.setdefault(name, _Counter())

    def gauge(self, name, read):
        self.gauges = {**getattr(self, "gauges", {}), name: read}


def _open_alert_once(context: _RuntimeContext, ttl_ms: int = 3_600_000) -> AlertOncePerPath:
    alert_once = pickle.loads(pickle.dumps(AlertOncePerPath(["n1", "n2", "n3"], ttl_ms)))
    alert_once.open(context)
    return alert_once


def _call(alert_once: AlertOncePerPath, context: _RuntimeContext, region: str, nodes: list[str], start: int):
    context.state.current_key = region
    return alert_once(_match(region, nodes, start), MatchContext(region, {}, start))


def test_each_path_of_a_region_is_alerted_once() -> None:
    context = _RuntimeContext()
    alert_once = _open_alert_once(context)
    assert [a["path"] for a in _call(alert_once, context, "r1", ["a", "b", "c"], 0)] == [["a", "b", "c"]]
    assert _call(alert_once, context, "r1", ["a", "b", "c"], 60_000) == []  # the same path, later readings
    assert len(_call(alert_once, context, "r1", ["a", "b", "d"], 0)) == 1  # a branch is another path
    assert len(_call(alert_once, context, "r2", ["a", "b", "c"], 0)) == 1  # so is another region
    assert context.counters["alerts"].count == 3 and context.counters["repeatedMatches"].count == 1


def test_a_restarted_instance_remembers_from_state_and_reads_it_once_per_key() -> None:
    context = _RuntimeContext()
    _call(_open_alert_once(context), context, "r1", ["a", "b", "c"], 0)
    restarted = _open_alert_once(context)  # a restore: a new instance over the same (restored) state
    context.state.reads = 0
    assert _call(restarted, context, "r1", ["a", "b", "c"], 60_000) == []
    assert _call(restarted, context, "r1", ["a", "b", "d"], 60_000) != []
    assert context.state.reads == 1  # then from memory; writes still go through to the state
    assert set(context.state.values["r1"]) == {("a", "b", "c"), ("a", "b", "d")}


def test_a_path_is_forgotten_after_the_ttl_of_event_time() -> None:
    context = _RuntimeContext()
    alert_once = _open_alert_once(context, ttl_ms=600_000)
    assert _call(alert_once, context, "r1", ["a", "b", "c"], 0)
    assert _call(alert_once, context, "r1", ["x", "y", "z"], 3_600_000)  # an hour later
    assert _call(alert_once, context, "r1", ["a", "b", "c"], 3_600_000)  # alerted again: forgotten


def test_an_alert_says_how_it_was_found_and_how_long_after_its_last_arrival() -> None:
    context = _RuntimeContext()
    alert_once = _open_alert_once(context)
    context.state.current_key = "r1"
    match = _match("r1", ["a", "b", "c"], 0)
    arrived = [1_000, 5_000, 3_000]  # the second reading arrived last: the alert waited for it
    for readings, at in zip(match.values(), arrived):
        readings[0][ARRIVED] = at
    (early,) = alert_once(match, MatchContext("r1", {}, 0, found_early=True))
    assert early["found"] == "early"
    assert early["delay_ms"] == early["detected_at"] - 5_000
    assert ARRIVED not in early["readings"][0]
    assert context.gauges["lastAlertDelayMs"]() == early["delay_ms"]
    context.state.current_key = "r2"
    (late,) = alert_once(_match("r2", ["a", "b", "c"], 0), MatchContext("r2", {}, 0))
    assert late["found"] == "watermark" and "delay_ms" not in late  # no arrival times known
    assert context.counters["earlyAlerts"].count == 1 and context.counters["watermarkAlerts"].count == 1
