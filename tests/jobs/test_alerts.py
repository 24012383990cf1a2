"""Alerts: ids depend only on region + path; the JSON line carries every CONTRACTS section 5 field."""

from __future__ import annotations

import json
import pickle

from jobs.bushfire.alerts import MatchToAlert, alert_id, alert_line, build_alert, console_line


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


def test_match_to_alert_emits_a_path_once_per_process_and_forgets_on_pickling() -> None:
    to_alert = MatchToAlert(["n1", "n2", "n3"])
    first = to_alert(_match("r1", ["a", "b", "c"], 0), None)
    assert [a["path"] for a in first] == [["a", "b", "c"]]
    assert to_alert(_match("r1", ["a", "b", "c"], 60_000), None) == []  # the same path, later readings
    assert len(to_alert(_match("r1", ["a", "b", "d"], 0), None)) == 1  # a branch is another path
    assert len(to_alert(_match("r2", ["a", "b", "c"], 0), None)) == 1  # so is another region
    # A restarted worker gets a fresh copy: the keyed FirstAlertPerPath step decides from state.
    fresh = pickle.loads(pickle.dumps(to_alert))
    assert len(fresh(_match("r1", ["a", "b", "c"], 0), None)) == 1
