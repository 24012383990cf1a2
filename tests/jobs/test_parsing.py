"""Python side of parsing: the exact schema check agrees with the simulator's definition of valid."""

from __future__ import annotations

import json

import orjson

from jobs.bushfire.parsing import DeadLetter, Reason, check_reading, parse_line
from simulator import FaultConfig, SimulationConfig, is_valid_event, simulate


def _faulty_stream() -> list:
    cfg = SimulationConfig.demo(seed=3).replace(faults=FaultConfig(malformed_rate=0.2, duplicate_rate=0.05))
    return list(simulate(cfg).delivered())


def test_check_agrees_with_the_simulator_on_every_delivered_record() -> None:
    records = _faulty_stream()
    malformed = [r for r in records if isinstance(r, bytes)]
    assert len(malformed) > 100  # the stream really holds bad records
    for record in records:
        raw = (
            record.decode("utf-8", "replace") if isinstance(record, bytes) else orjson.dumps(record).decode()
        )
        result = parse_line(raw, "parse-validate")
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            decoded = None
        assert isinstance(result, dict) == is_valid_event(decoded), raw
        if isinstance(result, DeadLetter):
            assert result.raw == raw and result.reason in (Reason.MALFORMED, Reason.INVALID)


def test_booleans_are_not_numbers_and_infected_by_must_be_present() -> None:
    good = {
        "event_id": "e",
        "node": "n",
        "region": "r",
        "ts": 1,
        "temperature": 60,
        "infectedBy": None,
        "lat": 1.0,
        "lon": 2.0,
    }
    assert check_reading(good) is None
    assert check_reading({**good, "temperature": True}) == "missing or invalid temperature"
    assert check_reading({**good, "node": 42}) == "missing or invalid node"
    assert check_reading({k: v for k, v in good.items() if k != "infectedBy"}) == "missing infectedBy"
    assert check_reading({**good, "infectedBy": 7}) == "invalid infectedBy"
    assert check_reading({**good, "battery": "low"}) == "invalid battery"


def test_a_bad_line_becomes_a_dead_letter_that_keeps_the_raw_line() -> None:
    letter = parse_line("{not json", "parse-validate")
    assert isinstance(letter, DeadLetter) and letter.reason is Reason.MALFORMED
    data = json.loads(letter.to_json())
    assert data["raw"] == "{not json" and data["reason"] == "malformed" and data["stage"] == "parse-validate"
    letter = parse_line('{"event_id": "e"}', "parse-validate")
    assert letter.reason is Reason.INVALID and letter.error == "missing or invalid node"
    assert parse_line("[1, 2]", "parse-validate").reason is Reason.MALFORMED
