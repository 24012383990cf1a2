"""Dynamic patterns on the mini-cluster: add, replace, remove, refused updates, several patterns, restore.

Each test runs a script of events and pattern updates in a fixed interleaving (see
`tests.flink.dynamic_harness`) and checks exactly which (pattern id, events) matches came out.
"""

from __future__ import annotations

import json

import pytest

from cep import Pattern
from cep import conditions as C
from cep.serde import pattern_from_dict, pattern_to_dict
from tests.flink.dynamic_harness import Update, found, run_script
from tests.flink.harness import Record

pytestmark = pytest.mark.pyflink


def pair(first: str, second: str, window_ms: int = 1_000) -> dict:
    """The document of `first` followed by `second` (by name) within the window."""
    return pattern_to_dict(
        Pattern.begin("x").where(C.field("name") == first)
        .followed_by("y").where(C.field("name") == second)
        .within(window_ms)
    )


def ev(i: int, name: str, key: str = "k1") -> Record:
    return Record(key, 10 * i, {"id": i, "name": name})


def test_add_replace_remove_take_effect_in_script_order(tmp_path):
    script = [
        Update({"op": "add", "id": "ab", "pattern": pair("a", "b")}),
        ev(1, "a"), ev(2, "b"),                       # ab: (1, 2)
        ev(3, "a"),                                    # a partial match of ab, dropped by the replace
        Update({"op": "replace", "id": "ab", "pattern": pair("a", "c")}),
        ev(4, "b"), ev(5, "c"),                       # old ab would take (3, 4); the new one has no a yet
        ev(6, "a"), ev(7, "c"),                       # new ab: (6, 7)
        Update({"op": "add", "id": "cd", "pattern": pair("c", "d")}),
        ev(8, "d"),                                    # no cd match: c(7) was fed before cd existed
        ev(9, "c"), ev(10, "d"),                      # cd: (9, 10)
        Update({"op": "remove", "id": "ab"}),
        ev(11, "a"), ev(12, "c"), ev(13, "d"),       # only cd: (12, 13)
    ]
    matches, refused = run_script(tmp_path, script)
    assert refused == []
    assert found(matches) == {
        ("ab", (1, 2)),
        ("ab", (6, 7)),
        ("cd", (9, 10)),
        ("cd", (12, 13)),
    }
    assert all(match_id.startswith(pid + ":k1:") for match_id, (pid, _ids) in matches.items())


def test_an_invalid_update_is_refused_whole_and_the_previous_version_keeps_running(tmp_path):
    bad_pattern = pair("a", "c")
    bad_pattern["stages"][1]["contiguity"] = "eventually"
    script = [
        Update({"op": "add", "id": "ab", "pattern": pair("a", "b")}),
        ev(1, "a"),
        Update({"op": "replace", "id": "ab", "pattern": bad_pattern}),
        Update("{not json"),
        Update({"op": "set", "patterns": {"ab": pair("a", "c"), "lam": {"version": 1}}}),
        Update({"op": "remove", "id": "nope"}),
        ev(2, "b"), ev(3, "c"),                       # ab keeps its partial match: (1, 2)
    ]
    matches, refused = run_script(tmp_path, script)
    assert found(matches) == {("ab", (1, 2))}
    reasons = [r["error"] for r in refused]
    assert len(reasons) == 4
    assert "$.stages[1].contiguity" in reasons[0]
    assert "not a JSON document" in reasons[1]
    assert "pattern 'lam'" in reasons[2] and "$.skip" in reasons[2]
    assert "no active pattern 'nope'" in reasons[3]
    assert refused[1]["update"] == "{not json"
    assert json.loads(refused[0]["update"])["op"] == "replace"


def test_several_patterns_over_one_key_each_find_their_own_matches(tmp_path):
    script = [
        Update({"op": "set", "patterns": {"fast": pair("a", "b", 25), "slow": pair("a", "b", 1_000)}}),
        ev(1, "a"), ev(2, "b"),                       # both: (1, 2)
        ev(3, "a"), ev(7, "b"),                       # 40 ms apart: only slow
        ev(8, "a", key="k2"), ev(9, "b", key="k2"),  # another key: both
    ]
    matches, _refused = run_script(tmp_path, script)
    assert found(matches) == {
        ("fast", (1, 2)), ("slow", (1, 2)),
        ("slow", (3, 7)),
        ("fast", (8, 9)), ("slow", (8, 9)),
    }
    assert len(matches) == 5, "the same events matched by two patterns must get two match ids"


def test_initial_patterns_run_from_the_start_and_a_set_keeps_unchanged_ones_running(tmp_path):
    script = [
        ev(1, "x"),
        ev(2, "a"),
        Update({"op": "set", "patterns": {"ab": pair("a", "b"), "xy": pair("x", "y")}}),
        ev(3, "b"),                                    # ab kept its partial match from event 2
        ev(4, "y"),                                    # xy is new: event 1 came before it
    ]
    matches, _refused = run_script(tmp_path, script, initial={"ab": pair("a", "b")})
    assert found(matches) == {("ab", (2, 3))}


def test_a_restore_from_a_checkpoint_keeps_the_changed_rules_not_the_initial_ones(tmp_path):
    conf = {
        "execution.checkpointing.interval": "200ms",
        "state.checkpoints.dir": (tmp_path / "checkpoints").as_uri(),
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": "2",
        "restart-strategy.fixed-delay.delay": "100ms",
    }
    script = [
        ev(1, "a"),
        Update({"op": "replace", "id": "p", "pattern": pair("a", "c", 100_000)}),
        ev(2, "a"),                                    # the anchor: state after it is checkpointed
        *[ev(i, "x") for i in range(3, 40)],         # the job fails in here, then restarts
        ev(40, "b"),                                   # the initial pattern would match (2, 40)
        ev(41, "c"),                                   # the replaced one matches (2, 41) if its
                                                       # rules and partial match were restored
    ]
    matches, _refused = run_script(
        tmp_path, script, initial={"p": pair("a", "b", 100_000)}, conf=conf, fail_after_id=2
    )
    assert (tmp_path / "failed-once").exists(), "the failure was never injected"
    assert found(matches) == {("p", (2, 41))}


def many(window_ms: int = 1_000) -> dict:
    """a, then any b's (followed_by_any + one_or_more), then c: partial matches multiply."""
    return pattern_to_dict(
        Pattern.begin("x").where(C.field("name") == "a")
        .followed_by_any("y").where(C.field("name") == "b").one_or_more()
        .followed_by("z").where(C.field("name") == "c")
        .within(window_ms)
    )


def _matcher_found(doc: dict, names: str, **caps) -> set:
    """(pattern id "many", event ids) of what a `Matcher` finds in ev(1, names[0]), ev(2, ...), ..."""
    from cep import Matcher

    matcher = Matcher(pattern_from_dict(doc), **caps)
    out = set()
    for i, name in enumerate(names, start=1):
        for match in matcher.process({"id": i, "name": name}, 10 * i):
            out.add(("many", tuple(e["id"] for stage in sorted(match) for e in match[stage])))
    return out


def test_the_partial_match_cap_holds_per_pattern_in_a_job(tmp_path):
    names = "abbbbbc"
    script = [
        Update({"op": "set", "patterns": {"many": many(), "ac": pair("a", "c")}}),
        *[ev(i, name) for i, name in enumerate(names, start=1)],
    ]
    matches, _refused = run_script(tmp_path, script, max_partial_matches=3)
    capped = _matcher_found(many(), names, max_partial_matches=3)
    assert len(capped) < len(_matcher_found(many(), names))  # the cap changes what "many" finds
    assert found(matches) == capped | {("ac", (1, 7))}  # ... and nothing of "ac"


def test_a_pattern_removed_and_added_again_starts_empty(tmp_path):
    script = [
        Update({"op": "add", "id": "ab", "pattern": pair("a", "b")}),
        ev(1, "a"),
        Update({"op": "remove", "id": "ab"}),
        Update({"op": "add", "id": "ab", "pattern": pair("a", "b")}),  # the key was not touched since
        ev(2, "b"),                                    # no match: the new ab never saw a(1)
        ev(3, "a"), ev(4, "b"),                       # ab: (3, 4)
    ]
    matches, _refused = run_script(tmp_path, script)
    assert found(matches) == {("ab", (3, 4))}
