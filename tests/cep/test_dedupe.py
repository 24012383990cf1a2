"""Emberwatch's `dedupe_runs` extension: same distinct chains as without it, with bounded state."""

from __future__ import annotations

from tests.cep.harness import NfaHarness
from tests.cep.streams import MINUTE, chain_pattern, fire_stream, node_path


def _peaks(harness: NfaHarness, events: list[dict], edges: list[int]) -> list[int]:
    """Peak partial-match count between consecutive timestamps in `edges`."""
    peaks = [0] * (len(edges) - 1)
    for e in events:
        harness.feed(e)
        for i in range(len(peaks)):
            if edges[i] <= e["ts"] < edges[i + 1]:
                peaks[i] = max(peaks[i], harness.matcher.partial_match_count())
    return peaks


def test_dedupe_keeps_the_distinct_node_paths() -> None:
    events = fire_stream(side=4, minutes=40, seed=3)
    for length in (3, 4):
        plain = chain_pattern(length, any_=True)
        deduped = chain_pattern(length, any_=True).dedupe_runs(lambda e: e["node"])
        all_matches, _ = NfaHarness(plain).run(events, end=10**9)
        few_matches, _ = NfaHarness(deduped).run(events, end=10**9)
        assert {node_path(m) for m in all_matches} == {node_path(m) for m in few_matches}
        assert len(few_matches) < len(all_matches)


def test_dedupe_keeps_state_bounded_as_the_fire_burns_on() -> None:
    events = fire_stream(side=4, minutes=90, seed=5, spread=0.5)
    assert all(e["temperature"] >= 50 for e in events if e["ts"] >= 30 * MINUTE), "all lit by minute 30"
    edges = [30 * MINUTE, 60 * MINUTE, 90 * MINUTE]
    deduped = _peaks(NfaHarness(chain_pattern(4, any_=True).dedupe_runs(lambda e: e["node"])), events, edges)
    plain = _peaks(NfaHarness(chain_pattern(4, any_=True)), events, edges)
    # once every node burns, each minute looks alike: the state must not keep growing
    assert deduped[1] == deduped[0]
    assert deduped[0] * 3 < plain[0]


def _all_chains(events: list[dict], length: int, window_ms: int) -> list[tuple]:
    """Brute force: every sequence of hot readings, each lit by the previous one's node, in window."""
    hot = [(i, e) for i, e in enumerate(events) if e["temperature"] >= 50]
    chains = [((i,), e) for i, e in hot]
    for _ in range(length - 1):
        longer = []
        for path, last in chains:
            first = events[path[0]]
            for j, e in hot:
                if j > path[-1] and e["infectedBy"] == last["node"] and e["ts"] - first["ts"] < window_ms:
                    longer.append((path + (j,), e))
        chains = longer
    return sorted(tuple(events[i]["event_id"] for i in path) for path, _ in chains)


def test_followed_by_any_chain_finds_exactly_every_chain() -> None:
    events = fire_stream(side=4, minutes=25, seed=11)
    pattern = chain_pattern(3, any_=True, window_ms=4 * MINUTE)
    matches, _ = NfaHarness(pattern).run(events, end=10**9)
    found = sorted(tuple(e["event_id"] for es in m.values() for e in es) for m in matches)
    expected = _all_chains(events, 3, 4 * MINUTE)
    assert expected, "the stream should contain chains"
    assert found == expected


def test_nodes_carry_the_key_sequence_a_walk_of_their_chain_gives_also_after_a_restore() -> None:
    from cep import Matcher
    from cep.buffer import NODE_EVENT, NODE_KEYS, NODE_PREVIOUS, NODE_STAGE

    def walked(node: tuple) -> tuple:
        out = []
        while node is not None:
            out.append((node[NODE_STAGE], node[NODE_EVENT]["node"]))
            node = node[NODE_PREVIOUS]
        return tuple(out)

    pattern = chain_pattern(4, any_=True).dedupe_runs(lambda e: e["node"])
    matcher = Matcher(pattern)
    for event in fire_stream(side=4, minutes=20, seed=3):
        matcher.process(event, event["ts"])
    restored = Matcher.restore(pattern, matcher.snapshot())
    for m in (matcher, restored):
        nodes = [pm[0] for _state, pm in m._run.partial_matches()]
        assert len(nodes) > 10
        assert all(node[NODE_KEYS] == walked(node) for node in nodes)
