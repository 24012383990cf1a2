"""The Emberwatch extension `dedupe_runs(key)` keeps exactly the distinct key sequences.

On random bushfire-like streams (a few nodes reporting every tick, some hot, each naming the node
that infected it), the fire-chain pattern with `followed_by_any` must find the same set of node
paths with and without `dedupe_runs(node)`, and that set must be the brute-force one: every tuple
of positions ``p_1 < ... < p_k`` of hot readings where each names the previous reading's node as
``infectedBy``, no node repeats, and the first and last timestamps are less than the window apart.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from tests.cep.harness import NfaHarness
from tests.cep.property.profiles import profile

NODES = ("n0", "n1", "n2", "n3")
HOT = 50.0


@st.composite
def bushfire_streams(draw, max_ticks: int = 10) -> list:
    """Readings tick by tick: a subset of the nodes reports, in a drawn order, at each tick.

    Each node mostly reports the same `infectedBy` (its fire's source, as real sensors do, so the
    same path recurs with many timestamps: what `dedupe_runs` prunes), sometimes another value.
    """
    sources = {node: draw(st.sampled_from((None, *NODES))) for node in NODES}
    events = []
    for tick in range(draw(st.integers(1, max_ticks))):
        reporting = draw(st.permutations(NODES))[: draw(st.integers(1, len(NODES)))]
        for node in reporting:
            steady = draw(st.integers(0, 3)) > 0
            events.append(
                {
                    "id": len(events),
                    "node": node,
                    "ts": tick * 10,
                    "temperature": draw(st.sampled_from((20.0, HOT, 80.0, 80.0))),
                    "infectedBy": sources[node] if steady else draw(st.sampled_from((None, *NODES))),
                }
            )
    return events


def fire_chain(length: int, within_ms: int, dedupe: bool, declarative: bool):
    """The job's chain (`jobs.bushfire.patterns.fire_chain`: `followed_by_any`, hot, infected by the
    previous node, nodes distinct) without its strictly-later rule, as the brute force defines paths.

    `declarative` writes the links with `C.last` (which the engine indexes), else with lambdas.
    """
    from jobs.bushfire.config import DetectionConfig
    from jobs.bushfire.patterns import ALERT, stage_names
    from jobs.bushfire.patterns import fire_chain as build

    detection = DetectionConfig(chain_length=length, window_ms=within_ms, threshold_c=HOT)
    variant = ALERT.replace(strictly_later=False, dedupe_runs=dedupe, lambdas=not declarative)
    return build(detection, variant), stage_names(length)


def engine_paths(events, length, within_ms, dedupe, declarative=False):
    pattern, names = fire_chain(length, within_ms, dedupe, declarative)
    end = (events[-1]["ts"] if events else 0) + within_ms + 1
    matches, _ = NfaHarness(pattern, watermark_follows_events=False).run(events, end=end)
    for match in matches:
        assert [len(match[n]) for n in names] == [1] * length, match
    return [tuple(match[n][0]["node"] for n in names) for match in matches]


def brute_force_paths(events, length, within_ms):
    hot = [e for e in events if e["temperature"] >= HOT]
    paths = set()
    for chain in itertools.combinations(hot, length):  # combinations keep feed order
        nodes = [e["node"] for e in chain]
        linked = all(b["infectedBy"] == a["node"] for a, b in zip(chain, chain[1:]))
        if linked and len(set(nodes)) == length and chain[-1]["ts"] - chain[0]["ts"] < within_ms:
            paths.add(tuple(nodes))
    return paths


@profile(300)
@given(
    events=bushfire_streams(),
    length=st.sampled_from((2, 3, 3, 4, 4)),
    within_ms=st.sampled_from((25, 40, 1000)),
    declarative=st.booleans(),
)
def test_dedupe_runs_keeps_every_distinct_path(events, length, within_ms, declarative):
    plain = engine_paths(events, length, within_ms, dedupe=False, declarative=declarative)
    deduped = engine_paths(events, length, within_ms, dedupe=True, declarative=declarative)
    expected = brute_force_paths(events, length, within_ms)
    assert set(plain) == expected
    assert set(deduped) == expected
    assert len(deduped) <= len(plain)
