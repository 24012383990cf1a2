"""The JVM parse query flags every invalid record, so none can slip past Python's exact check.

Both JVM parsers are held to the same rule: the Java UDF (`PARSE_READING`) and Flink SQL's JSON
functions. A flagged valid line only costs speed (Python keeps it); an unflagged invalid one would be
lost, since cold unflagged lines never leave the JVM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import orjson
import pytest
from pyflink.table import StreamTableEnvironment

from jobs.bushfire import parse_udf
from jobs.bushfire.parsing import JvmParser, parse_query
from simulator import FaultConfig, SimulationConfig, is_valid_event, simulate
from tests.jobs.jobrun import write_jsonl
from tests.support.flink import local_env

pytestmark = pytest.mark.pyflink

GOOD = {
    "event_id": "r1-n1:1",
    "node": "r1-n1",
    "region": "r1",
    "ts": 1_700_000_000_000,
    "temperature": 20.0,
    "infectedBy": "r1-n0",
    "lat": -33.7,
    "lon": 150.3,
}


def _line(**changes: object) -> str:
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not _ABSENT}, separators=(",", ":"))


_ABSENT = object()

#: Lines a lenient parser could take for valid readings; each is valid or not by Python's check. Most
#: are cold, so an invalid one only reaches Python if the JVM flags it.
TRICKY_LINES = [
    _line(temperature=61.5),  # valid and hot
    _line(),  # valid and cold
    _line(temperature=50),  # valid, integer temperature exactly at the threshold
    _line(infectedBy=None),  # valid: an ignition
    _line(battery=None),  # valid: battery is optional and may be null
    _line(extra={"nested": [1, 2, {"a": None}]}),  # valid: unknown fields may hold anything
    " " + _line() + " ",  # valid: whitespace around the object
    _line(ts=1_700_000_000_000.0),  # ts must be an integer
    _line(ts="1700000000000"),  # ... not a string
    _line(temperature="61.5"),  # numbers must be numbers
    _line(temperature=True),  # booleans are not numbers
    _line(lat=None),
    _line(node=42),  # strings must be strings
    _line(region=["r1"]),
    _line(infectedBy=7),
    _line(infectedBy=_ABSENT),  # infectedBy must be present
    _line(event_id=_ABSENT),
    _line(battery="full"),
    _line(ts=2**64),  # beyond 64 bits
    _line(ts=2**63),  # beyond a signed 64-bit integer, valid for Python
    _line(ts="1700000000000", extra={"ts": 1700000000000}),  # a well-typed decoy in a nested object
    _line(node=42, note='"42"'),  # a quoted decoy of the same value elsewhere
    _line()[:-1] + ',"temperature":61.5}',  # a duplicate field: the last one counts
    _line()[:-1] + ',"lat":"north"}',  # ... and may make a valid line invalid
    _line(note="a")[:-1] + ',"note":"b"}',  # valid: a repeated unknown field changes nothing
    _line() + "}",  # text after the object
    _line() + " {}",
    _line()[:-1],  # cut short
    _line().replace('"r1-n1"', '"r1-\\ud800"'),  # a lone surrogate escape
    _line().replace("20.0", "NaN"),
    _line().replace("20.0", "1e999"),
    "[" + _line() + "]",
    '"just a string"',
    "",
    "{}",
    "null",
]


def _valid(raw: str) -> bool:
    try:
        return is_valid_event(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return False


def _hot(raw: str) -> bool:
    return _valid(raw) and orjson.loads(raw)["temperature"] >= 50


#: The inputs every parser reads, in one job: a simulated stream with malformed lines, `TRICKY_LINES`,
#: and plain valid lines (`PLAIN_LINES`). Each is its own table; the job's output says which it came from.
PARTS = ("simulated", "tricky", "plain")
HOT = _line(temperature=61.5)
PLAIN_LINES = [HOT, _line(temperature=50), _line(temperature=99, infectedBy=None, battery=None), f" {HOT} "]


def _run_query(paths: dict[str, Path], parser: JvmParser) -> dict[str, list[tuple[str, object]]]:
    """(line, reason) of every row the parse query keeps, by input part; one job for all parts."""
    env = local_env()
    if parser is JvmParser.JAVA:
        env.add_jars(parse_udf.find_jar().as_uri())
    t_env = StreamTableEnvironment.create(env)
    parse_udf.register_functions(t_env, parser)
    selects = []
    for part, path in paths.items():
        table = f"lines_{part}"
        t_env.execute_sql(
            f"CREATE TEMPORARY TABLE {table} (line STRING, rt AS {parser.event_time()}, "
            "WATERMARK FOR rt AS rt) "
            f"WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'raw')"
        )
        query = parse_query(table, "`temperature` >= 50", parser)
        selects.append(f"SELECT '{part}' AS part, line, reason FROM ({query})")
    out: dict[str, list[tuple[str, object]]] = {part: [] for part in paths}
    with t_env.execute_sql(" UNION ALL ".join(selects)).collect() as rows:
        for row in rows:
            out[row[0]].append((row[1], row[2]))
    return out


@pytest.fixture(scope="module")
def simulated() -> list:
    cfg = SimulationConfig.demo(seed=4).replace(faults=FaultConfig(malformed_rate=0.05))
    return list(simulate(cfg).delivered())


@pytest.fixture(scope="module")
def parsed(tmp_path_factory, simulated) -> Callable[[JvmParser], dict[str, list[tuple[str, object]]]]:
    """The parse query's output per parser and input part, each parser's job run once for the module."""
    folder = tmp_path_factory.mktemp("parse-query")
    paths = {"simulated": write_jsonl(simulated, folder / "simulated.jsonl")}
    for part, lines in (("tricky", TRICKY_LINES), ("plain", PLAIN_LINES)):
        paths[part] = folder / f"{part}.jsonl"
        paths[part].write_text("\n".join(lines) + "\n", encoding="utf-8")
    runs: dict[JvmParser, dict[str, list[tuple[str, object]]]] = {}

    def run(parser: JvmParser) -> dict[str, list[tuple[str, object]]]:
        if parser not in runs:
            runs[parser] = _run_query(paths, parser)
        return runs[parser]

    return run


@pytest.mark.parametrize("parser", list(JvmParser), ids=lambda p: p.value)
def test_every_invalid_record_is_flagged_and_cold_valid_ones_are_dropped(simulated, parsed, parser) -> None:
    records = simulated
    out = parsed(parser)["simulated"]
    flagged = {line for line, reason in out if reason is not None}
    kept_valid = {line for line, reason in out if reason is None}
    invalid = {r.decode("utf-8", "replace") for r in records if isinstance(r, bytes) and not _valid(r)}
    assert len(invalid) > 50
    assert invalid <= flagged  # nothing invalid passes the JVM unflagged
    hot_valid = {orjson.dumps(r).decode() for r in records if isinstance(r, dict) and r["temperature"] >= 50}
    assert kept_valid == hot_valid  # cold valid readings stay in the JVM
    assert len(out) < len(records) // 2


@pytest.mark.parametrize("parser", list(JvmParser), ids=lambda p: p.value)
def test_tricky_lines_are_flagged_unless_certainly_valid(parsed, parser) -> None:
    out = parsed(parser)["tricky"]
    crossed = {line for line, _ in out}
    needed = [line for line in TRICKY_LINES if _hot(line) or not _valid(line)]
    lost = [line for line in needed if line not in crossed]
    assert not lost, f"lines Python must see that stayed in the JVM: {lost}"
    unflagged_valid = {line for line, reason in out if reason is None and _valid(line)}
    assert unflagged_valid <= {line for line in TRICKY_LINES if _hot(line)}


def test_the_java_parser_passes_plain_valid_lines_unflagged(parsed) -> None:
    """The fast path is real: ordinary valid readings are not all sent to Python as suspects."""
    assert sorted(parsed(JvmParser.JAVA)["plain"]) == sorted((line, None) for line in PLAIN_LINES)
