"""Conformance scenarios through `CEP.pattern` on the mini-cluster give the pure-Python Matcher's results.

All 95 cases of ``tests/cep/conformance/cases.json`` run, in one job: one pipeline per distinct
pattern (pattern + skip strategy; 91 of them), keyed by case id, in thread mode (a pipeline there
costs a fraction of a process-mode one). So every feature the cases exercise goes through Flink:
strict, relaxed and non-deterministic contiguity, loops (`one_or_more`, `times`, `times_or_more`,
`optional`, `greedy`, `consecutive`, `allow_combinations`), negation (`not_next`, `not_followed_by`,
also ending a pattern), `until`, `subtype`, iterative conditions, `within` and timeouts, the skip
strategies, and groups.

Each case's input arrives shuffled within the watermark's out-of-orderness bound (ties keep their
order: the adapter feeds ties in arrival order), and cases follow each other in event time, 1 s apart.
The reference feeds each case's events to `cep.Matcher` as the adapter does: in timestamp order (ties
in arrival order), advancing time to each timestamp first, and at the end to the final watermark of
a bounded input (Long.MAX_VALUE), so matches that only time passing decides are compared too.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest
from pyflink.datastream import OutputTag

from cep import Matcher
from cep.flink import CEP
from tests.cep.conformance_cases import build_pattern, build_skip, load_cases, make_event
from tests.flink.harness import (
    Record,
    collect_all,
    new_env,
    read_events,
    record_key,
    shuffle_within_bound,
    write_records,
)

pytestmark = pytest.mark.pyflink

BOUND_MS = 4
CASE_SPACING_MS = 1_000
END_OF_INPUT = 2**63 - 1


def arrival_order(case: dict, index: int) -> list[Record]:
    offset = (index + 1) * CASE_SPACING_MS
    records = [Record(case["id"], spec["ts"] + offset, spec) for spec in case["events"]]
    return shuffle_within_bound(records, BOUND_MS, seed=case["id"])


def keyed_event(spec: dict, key: str) -> Any:
    """The scenario's event, marked with its case id (the record key)."""
    event = make_event(spec)
    event.key = key
    return event


def pattern_of(case: dict) -> Any:
    return build_pattern(case["pattern"], build_skip(case["skip"]))


def sorted_ids(match: dict) -> tuple:
    return tuple(sorted(event.id for events in match.values() for event in events))


def reference(case: dict, arrival: list[Record]) -> Counter:
    """Matches and timeouts of the pure-Python Matcher, fed as the adapter feeds it."""
    matcher = Matcher(pattern_of(case))
    results: Counter = Counter()

    def note(matches: Iterable[dict], timeouts: Iterable[tuple] = ()) -> None:
        results.update(("match", case["id"], sorted_ids(match)) for match in matches)
        results.update(("timeout", case["id"], sorted_ids(partial), ts) for partial, ts in timeouts)

    in_time_order = sorted(arrival, key=lambda record: record.ts)  # stable: ties keep arrival order
    for ts, records in itertools.groupby(in_time_order, key=lambda record: record.ts):
        note(*matcher.advance_time(ts))
        for record in records:
            note(matcher.process(make_event(record.event), ts))
    note(*matcher.advance_time(END_OF_INPUT))
    return results


def test_every_case_gives_the_matchers_results_through_flink(tmp_path):
    cases = load_cases()
    arrivals = {case["id"]: arrival_order(case, index) for index, case in enumerate(cases)}
    path = write_records(tmp_path / "cases.jsonl", [rec for case in cases for rec in arrivals[case["id"]]])

    by_pattern: dict[str, list[dict]] = {}
    for case in cases:
        by_pattern.setdefault(json.dumps([case["pattern"], case["skip"]], sort_keys=True), []).append(case)

    env = new_env()
    events = read_events(env, path, BOUND_MS, to_event=keyed_event)
    outputs = []
    for number, group in enumerate(by_pattern.values()):
        keys = frozenset(case["id"] for case in group)
        keyed = events.filter(lambda event, keys=keys: event.key in keys).key_by(record_key)
        timeout_tag = OutputTag(f"timeouts-{number}")
        found = CEP.pattern(keyed, pattern_of(group[0])).process(
            lambda match, ctx: [("match", ctx.key, sorted_ids(match))],
            timeout_tag=timeout_tag,
            timeout_fn=_timeout_row,
        )
        outputs += [found, found.get_side_output(timeout_tag)]
    through_flink = Counter(collect_all(outputs))

    expected: Counter = Counter()
    for case in cases:
        expected += reference(case, arrivals[case["id"]])
    assert sum(1 for kind, *_ in expected.elements() if kind == "match") > 100
    assert sum(1 for kind, *_ in expected.elements() if kind == "timeout") > 0
    differing = sorted({row[1] for row in (through_flink - expected) + (expected - through_flink)})
    assert through_flink == expected, f"cases that differ: {differing}"


def _timeout_row(partial: dict, ts: int) -> tuple:
    events = [event for events in partial.values() for event in events]
    return ("timeout", events[0].key, sorted_ids(partial), ts)
