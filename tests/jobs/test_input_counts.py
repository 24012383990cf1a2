"""The run summary's input counts: the quick count (line-level dead letters taken from the run, only
lines with a repeated event_id judged again) equals judging every line, as the job does."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.bushfire.input_counts import InputCounts, count_input
from jobs.bushfire.parsing import DeadLetter, parse_line
from simulator import SimulationConfig, simulate

TTL_MS = 10 * 60_000
_NETWORK = simulate(SimulationConfig.preset("blog-11")).delivered()
READINGS = [json.dumps(r, separators=(",", ":")).encode() for r in _NETWORK][:60]
#: Lines the quick scan must not be fooled by: escapes in an id or a key, bytes that are not UTF-8,
#: a nested event_id, a repeated key, a number for an id, text that is no JSON at all.
ODD_LINES = [
    READINGS[0].replace(b'"event_id":"', b'"event_id":"\\u0041'),
    READINGS[1].replace(b'"event_id"', b'"event\\u005fid"'),
    READINGS[2] + b"\xff",
    READINGS[3].replace(b'"event_id":"', b'"x":{"event_id":"nested"},"event_id":"'),
    READINGS[4][:-1] + b',"event_id":"again"}',
    b'{"event_id": 7}',
    b"{not json",
    b"",
]


def _line_dead_letters(lines: list[bytes]) -> int:
    return sum(isinstance(parse_line(line.decode("utf-8", "replace"), "test"), DeadLetter) for line in lines)


def _write(tmp_path: Path, files: list[list[bytes]]) -> list[Path]:
    paths = []
    for number, lines in enumerate(files):
        path = tmp_path / f"part-{number}.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        paths.append(path)
    return paths


@settings(max_examples=60, deadline=None)
@given(
    picks=st.lists(st.sampled_from(READINGS + ODD_LINES), max_size=40),
    files=st.integers(1, 3),
    data=st.data(),
)
def test_the_quick_count_equals_judging_every_line(tmp_path_factory, picks, files, data) -> None:
    tmp_path = tmp_path_factory.mktemp("input")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(picks)), min_size=files - 1, max_size=files - 1)))
    parts = [picks[a:b] for a, b in zip([0, *cuts], [*cuts, len(picks)])]
    paths = _write(tmp_path, parts)
    every_line = count_input(paths, TTL_MS, None)
    assert count_input(paths, TTL_MS, _line_dead_letters(picks)) == every_line
    assert every_line.lines == len(picks)
    assert every_line.readings + every_line.duplicates + _line_dead_letters(picks) == len(picks)


def test_re_deliveries_are_counted_once_each_and_a_last_line_without_newline_counts(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(READINGS + READINGS[:3] + [b"{bad"]))  # no newline after the last line
    expected = InputCounts(lines=len(READINGS) + 4, readings=len(READINGS), duplicates=3)
    assert count_input([path], TTL_MS, 1) == expected


def test_an_id_repeated_more_than_the_dedupe_ttl_later_is_a_reading_again(tmp_path: Path) -> None:
    first = json.loads(READINGS[0])
    within = dict(first, ts=first["ts"] + TTL_MS)
    beyond = dict(first, ts=first["ts"] + TTL_MS + 1)
    lines = [json.dumps(r).encode() for r in (first, within, beyond)]
    path = _write(tmp_path, [lines])
    assert count_input(path, TTL_MS, 0) == InputCounts(lines=3, readings=2, duplicates=1)
    assert count_input(path, TTL_MS, None) == InputCounts(lines=3, readings=2, duplicates=1)
