"""Any bytes in, exactly one outcome out: every input line becomes one reading, one duplicate or one dead
letter, through both JVM parsers and the Python check (issue 15 item 4).

Lines are drawn by Hypothesis: valid readings, and readings broken the ways real input breaks (bytes
that are not UTF-8, NUL, a byte-order mark, CRLF, huge numbers, NaN/Infinity, nested values, a field
given twice, cut short, random bytes), plus one line over 1 MiB. The expected outcome of each line is
Python's own verdict (`parse_line` on the text as the JVM decodes it) and the event-id dedupe; the job's
parse stage must give exactly that, line for line.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.bushfire.parsing import MAX_LINE_BYTES, DeadLetter, parse_line

BASE_TS = 1_700_000_000_000


def _reading() -> st.SearchStrategy[dict]:
    names = st.text("abn-0123456789", min_size=1, max_size=6)
    record = st.fixed_dictionaries(
        {
            "event_id": st.sampled_from([f"n{i}:{i % 3}" for i in range(12)]),  # repeats: duplicates
            "node": names,
            "region": st.sampled_from(["r1", "r2"]),
            "ts": st.integers(BASE_TS, BASE_TS + 600_000),
            "temperature": st.one_of(st.floats(-40, 120, allow_nan=False), st.integers(-40, 120)),
            "infectedBy": st.one_of(st.none(), names),
            "lat": st.floats(-90, 90, allow_nan=False),
            "lon": st.floats(-180, 180, allow_nan=False),
        },
        optional={"battery": st.one_of(st.none(), st.floats(0, 100, allow_nan=False))},
    )
    return record


def _replace_number(line: bytes, by: bytes) -> bytes:
    start = line.index(b'"temperature":') + len(b'"temperature":')
    end = min(i for i in (line.find(b",", start), line.find(b"}", start)) if i >= 0)
    return line[:start] + by + line[end:]


def _insert(line: bytes, at: int, what: bytes) -> bytes:
    at = at % (len(line) + 1)
    return line[:at] + what + line[at:]


_NO_NEWLINE = st.binary(max_size=6).map(lambda b: b.replace(b"\n", b""))


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    """One input line (no newline): a valid reading, or one broken in a way real input breaks."""
    line = orjson.dumps(draw(_reading()))
    how = draw(st.sampled_from(
        ["valid", "valid", "valid", "bom", "crlf", "insert", "invalid-utf8", "nul", "number", "nested",
         "duplicate", "cut", "random", "empty", "escape"]
    ))  # fmt: skip
    at = draw(st.integers(0, 500))
    if how == "bom":
        return b"\xef\xbb\xbf" + line
    if how == "crlf":
        return line + b"\r"
    if how == "insert":
        return _insert(line, at, draw(_NO_NEWLINE))
    if how == "invalid-utf8":
        return _insert(line, at, draw(st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf0\x9f"])))
    if how == "nul":
        return _insert(line, at, b"\x00")
    if how == "number":
        return _replace_number(line, draw(st.sampled_from(
            [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"123456789012345678901234567890", b"-0", b"1E2"]
        )))  # fmt: skip
    if how == "nested":
        return _replace_number(line, b'{"value":61}')
    if how == "duplicate":
        return line[:-1] + draw(
            st.sampled_from([b',"temperature":99', b',"node":"x"', b',"note":1,"note":2'])
        )
    if how == "cut":
        return line[: at % len(line)]
    if how == "random":
        return draw(st.binary(max_size=40)).replace(b"\n", b"")
    if how == "escape":
        return line.replace(b'"node"', b'"no\\u0064e"', 1)
    if how == "empty":
        return b""
    return line


#: One line over 1 MiB: a hot, otherwise valid reading with a huge unknown field.
HUGE = orjson.dumps(
    {"event_id": "huge:1", "node": "h", "region": "r1", "ts": BASE_TS, "temperature": 99.0,
     "infectedBy": None, "lat": 0.0, "lon": 0.0, "padding": "x" * (MAX_LINE_BYTES + 10)}
)  # fmt: skip


def expected_outcomes(lines: list[bytes]) -> Counter:
    """What each line must become: ("reading", region, event_id), ("duplicate", ...) or ("dead", reason,
    raw digest) for lines that are UTF-8 (("dead", reason) for the rest: decoders may differ in how many
    U+FFFD they put for bad bytes)."""
    seen: set[tuple[str, str]] = set()
    out: Counter = Counter()
    for line in lines:
        raw = line[:-1] if line.endswith(b"\r") else line  # both file sources split CRLF line ends
        result = parse_line(raw.decode("utf-8", "replace"), "test")
        if isinstance(result, DeadLetter):
            out[_dead_key(result.reason.value, result.raw, utf8=_is_utf8(raw))] += 1
            continue
        key = (result["region"], result["event_id"])
        out[("duplicate" if key in seen else "reading", *key)] += 1
        seen.add(key)
    return out


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _dead_key(reason: str, raw: str, utf8: bool) -> tuple:
    if not utf8:
        return ("dead", reason)
    return ("dead", reason, hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line(), max_size=30))
def test_the_python_check_gives_every_line_one_outcome_and_never_raises(lines: list[bytes]) -> None:
    outcomes = expected_outcomes([*lines, HUGE])
    assert sum(outcomes.values()) == len(lines) + 1
    for raw in lines:
        result = parse_line(raw.decode("utf-8", "replace"), "test")
        if isinstance(result, DeadLetter):
            letter = json.loads(result.to_json())
            assert letter["raw"] == raw.decode("utf-8", "replace") and letter["reason"] in (
                "malformed", "invalid")  # fmt: skip
        else:
            assert _is_utf8(raw) and not raw.startswith(b"\xef\xbb\xbf")


def test_a_line_over_1_mib_keeps_its_first_mib_its_length_and_its_digest() -> None:
    text = HUGE.decode()
    letter = json.loads(parse_line(text, "test").to_json())
    assert letter["reason"] == "oversized" and letter["raw_truncated"] is True
    assert letter["raw_bytes"] == len(HUGE) and letter["raw_sha256"] == hashlib.sha256(HUGE).hexdigest()
    assert letter["raw"] == text[:MAX_LINE_BYTES] and len(letter["raw"].encode()) == MAX_LINE_BYTES


# --- the job's parse stage on the mini-cluster, both JVM parsers ---------------------------------------


def _run_parse_stage(path: Path, parser_name: str) -> dict[str, Counter]:
    """Source -> JVM parse (+ the pattern's pre-filter, or none) -> the job's Python check and dedupe
    (`CheckAndDetect`, with its matcher swapped for an output of each reading), as the job builds them;
    returns the outcome of every row that left the JVM, by branch: "every-row" (no pre-filter) and
    "prefiltered". Both branches read the same lines in one job."""
    from pyflink.common import Types
    from pyflink.table import StreamTableEnvironment

    from cep.analysis import prefilter
    from jobs.bushfire import functions, parse_udf, patterns, pipeline
    from jobs.bushfire.config import DetectionConfig, ParserChoice, SourceConfig, SourceKind, WatermarkConfig
    from jobs.bushfire.sources import read_lines
    from tests.support.flink import local_env

    parser, jar = parse_udf.choose_parser(ParserChoice(parser_name))
    env = local_env()
    if jar:
        env.add_jars(jar.as_uri())
    t_env = StreamTableEnvironment.create(env)
    parse_udf.register_functions(t_env, parser)
    source = SourceConfig(kind=SourceKind.FILE, input_path=str(path), bounded=True)
    lines = read_lines("lines", env, t_env, source, WatermarkConfig(), parser)
    pattern = patterns.fire_chain(DetectionConfig())
    branches = []
    for branch, hot in (("every-row", "TRUE"), ("prefiltered", prefilter(pattern).to_sql())):
        rows = pipeline.select_rows(f"parse-{branch}", t_env, lines, hot, parser)
        check = ReadingsOut("check", DetectionConfig().event_dedupe_ttl_ms, pattern, lambda match, ctx: [])
        checked = rows.process(check, Types.STRING())
        dead = checked.get_side_output(functions.DEAD_LETTERS).map(
            lambda d: json.dumps(["D", d]), Types.STRING()
        )
        branches.append(checked.union(dead).map(lambda item, b=branch: json.dumps([b, item]), Types.STRING()))
    out: dict[str, Counter] = {"every-row": Counter(), "prefiltered": Counter()}
    with branches[0].union(branches[1]).execute_and_collect() as results:
        for tagged in results:
            branch, item = json.loads(tagged)
            kind, *rest = json.loads(item)
            if kind == "R":
                out[branch][("reading", *rest)] += 1
            else:
                letter = json.loads(rest[0])
                if letter.get("raw_truncated"):
                    out[branch][("dead", letter["reason"], letter["raw_sha256"][:16])] += 1
                else:
                    utf8 = "\ufffd" not in letter["raw"]
                    out[branch][_dead_key(letter["reason"], letter["raw"], utf8=utf8)] += 1
    return out


def _readings_out():
    """`CheckAndDetect` whose matcher is replaced by an output of each reading it would match on."""
    from cep.flink.operator import CepFunction
    from jobs.bushfire.functions import CheckAndDetect

    class EmitReadings(CepFunction):
        def process_element(self, reading, ctx):
            yield json.dumps(["R", reading["region"], reading["event_id"]])

    class Observed(CheckAndDetect, EmitReadings):  # CheckAndDetect's super() is now EmitReadings
        pass

    return Observed


def ReadingsOut(*args, **kwargs):
    return _readings_out()(*args, **kwargs)


def _without_duplicates(outcomes: Counter) -> Counter:
    return Counter({key: n for key, n in outcomes.items() if key[0] != "duplicate"})


def _hot_keys(lines: list[bytes]) -> set[tuple[str, str]]:
    """(region, event_id) of every valid line of 50 degrees or more (what the pre-filter lets through)."""
    keys = set()
    for raw in lines:
        result = parse_line(raw.decode("utf-8", "replace"), "test")
        if isinstance(result, dict) and result["temperature"] >= 50:
            keys.add((result["region"], result["event_id"]))
    return keys


def _draw_lines(examples: int) -> list[bytes]:
    """Lines from `examples` Hypothesis examples, gathered for one mini-cluster run (a job per example
    would take minutes each)."""
    drawn: list[bytes] = []

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(_line(), max_size=12))
    def gather(lines: list[bytes]) -> None:
        drawn.extend(lines)

    gather()
    return drawn


#: Lines ending in CR that are no reading, in every run (drawn ones are rare): the raw payload of their
#: dead letters is the line without its CR, as the file sources split CRLF line ends.
CR_ENDED = [b"{broken\r", b"\r", b"\xff\r"]

#: Hypothesis examples drawn per parser: both branches of its job (every row, pre-filtered) read the same
#: lines, so each test case checks as many examples as when it ran its own job. (Drawing 2 x 150 made
#: the two jobs slower than the four they replaced: the rows' Python work, not start-up, dominates.)
EXAMPLES_PER_PARSER = 150


@pytest.fixture(scope="module")
def parse_stage_runs(tmp_path_factory: pytest.TempPathFactory):
    """Per parser (run on first use, once for the module): the drawn lines and each branch's outcomes."""
    runs: dict[str, tuple[list[bytes], dict[str, Counter]]] = {}

    def run(parser: str) -> tuple[list[bytes], dict[str, Counter]]:
        if parser not in runs:
            lines = [*_draw_lines(EXAMPLES_PER_PARSER), HUGE, *CR_ENDED]
            path = tmp_path_factory.mktemp(f"any-bytes-{parser}") / "in.jsonl"
            path.write_bytes(b"".join(line + b"\n" for line in lines))
            runs[parser] = lines, _run_parse_stage(path, parser)
        return runs[parser]

    return run


@pytest.mark.pyflink
@pytest.mark.parametrize("parser", ["java", "sql"])
@pytest.mark.parametrize("prefiltered", [False, True], ids=["every-row", "prefiltered"])
def test_every_line_becomes_exactly_one_reading_duplicate_or_dead_letter(
    parse_stage_runs, parser: str, prefiltered: bool
) -> None:
    lines, outcomes = parse_stage_runs(parser)
    assert len(lines) > 200
    expected = expected_outcomes(lines)
    assert sum(expected.values()) == len(lines)  # the reference itself: one outcome per line
    got = outcomes["prefiltered" if prefiltered else "every-row"]
    dead = Counter({k: n for k, n in expected.items() if k[0] == "dead"})
    assert Counter({k: n for k, n in got.items() if k[0] == "dead"}) == dead  # none lost in the JVM
    if prefiltered:  # every hot reading reaches the pattern once; cold ones stay in the JVM unless
        # the JVM flagged their line as suspect (Python then keeps them: a cost in speed, not a loss)
        valid = {k[1:] for k in expected if k[0] == "reading"}
        assert _hot_keys(lines) <= {k[1:] for k in got if k[0] == "reading"} <= valid
        assert all(n == 1 for k, n in got.items() if k[0] == "reading")
        return
    # Every row crosses: what comes out is every reading and dead letter once, duplicates dropped.
    assert got == _without_duplicates(expected)
    assert sum(got.values()) + sum(n for k, n in expected.items() if k[0] == "duplicate") == len(lines)
