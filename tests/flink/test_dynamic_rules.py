"""The rule set and multi-matcher behind `cep.flink.dynamic`, without a cluster."""

from __future__ import annotations

import json

import pytest

from cep import Pattern
from cep import conditions as C
from cep.flink.dynamic import MultiMatcher, RuleSet, UpdateError, parse_update
from cep.flink.rules import EPOCH_KEY
from cep.serde import pattern_to_dict


def pair(first: str, second: str) -> dict:
    return pattern_to_dict(
        Pattern.begin("x")
        .where(C.field("name") == first)
        .followed_by("y")
        .where(C.field("name") == second)
        .within(1_000)
    )


def hot(threshold: float) -> dict:
    return pattern_to_dict(Pattern.begin("x").where(C.field("t") >= threshold).within(1_000))


def test_the_prefilter_is_the_or_of_the_active_patterns_and_off_when_one_has_none():
    rules = RuleSet()
    assert not rules.admits({"name": "a"}), "no pattern: no event can matter"
    rules.apply({"op": "add", "id": "ab", "pattern": pair("a", "b")})
    rules.apply({"op": "add", "id": "cd", "pattern": pair("c", "d")})
    assert [rules.admits({"name": n}) for n in "abcdx"] == [True, True, True, True, False]
    strict = pattern_to_dict(Pattern.begin("x").where(C.field("name") == "a").next("y").where(C.true()))
    rules.apply({"op": "add", "id": "strict", "pattern": strict})
    assert rules.admits({"name": "x"}), "a strict pattern needs every event"


def test_an_upstream_filter_refuses_patterns_it_would_starve():
    rules = RuleSet(upstream_filter=C.field("t") >= 50)
    rules.apply({"op": "add", "id": "warm", "pattern": hot(60)})
    with pytest.raises(UpdateError, match="upstream filter"):
        rules.apply({"op": "add", "id": "cold", "pattern": hot(40)})
    assert sorted(rules.active) == ["warm"]


def test_a_set_is_checked_whole_before_anything_changes():
    rules = RuleSet()
    rules.apply({"op": "set", "patterns": {"ab": pair("a", "b")}})
    with pytest.raises(UpdateError, match="pattern 'bad'"):
        rules.apply({"op": "set", "patterns": {"cd": pair("c", "d"), "bad": {"version": 9}}})
    assert sorted(rules.active) == ["ab"]
    assert rules.active["ab"].revision == 1


def test_replace_restarts_the_pattern_and_leaves_the_others_running():
    rules = RuleSet()
    rules.apply({"op": "set", "patterns": {"ab": pair("a", "b"), "ac": pair("a", "c")}})
    multi = MultiMatcher(rules)
    assert multi.process({"name": "a"}, 1) == []
    rules.apply({"op": "replace", "id": "ab", "pattern": pair("a", "b")})
    matches = multi.process({"name": "b"}, 2) + multi.process({"name": "c"}, 3)
    assert [(m.pattern_id, [e["name"] for es in m.values() for e in es]) for m in matches] == [
        ("ac", ["a", "c"])
    ]


def test_live_partial_matches_are_counted_over_every_pattern():
    # CepFunction's `livePartialMatches` gauge asks the matcher it drives, here a MultiMatcher
    rules = RuleSet()
    rules.apply({"op": "set", "patterns": {"ab": pair("a", "b"), "ac": pair("a", "c")}})
    multi = MultiMatcher(rules)
    assert multi.partial_match_count() == 0
    multi.process({"name": "a"}, 1)
    assert multi.partial_match_count() == 2  # one waiting run per pattern
    rules.apply({"op": "remove", "id": "ac"})
    multi.process({"name": "x"}, 2)
    assert multi.partial_match_count() == 1


def test_a_snapshot_restores_only_patterns_at_the_same_revision():
    rules = RuleSet()
    rules.apply({"op": "set", "patterns": {"ab": pair("a", "b"), "ac": pair("a", "c")}})
    multi = MultiMatcher(rules)
    multi.process({"name": "a"}, 1)
    blob = multi.snapshot()
    rules.apply({"op": "replace", "id": "ac", "pattern": pair("a", "c")})
    restored = MultiMatcher.restore(rules, blob)
    matches = restored.process({"name": "b"}, 2) + restored.process({"name": "c"}, 3)
    assert [m.pattern_id for m in matches] == ["ab"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[1]", "a JSON object"),
        ('{"op": "upsert"}', "$.op"),
        ('{"op": "add", "id": "x"}', "$.pattern: required"),
        ('{"op": "remove", "id": "x", "pattern": {}}', "$.pattern: unknown field"),
        ('{"op": "set", "patterns": []}', "$.patterns"),
    ],
)
def test_malformed_updates_are_named(raw, message):
    with pytest.raises(UpdateError) as info:
        parse_update(raw)
    assert message in str(info.value)


def test_a_pattern_removed_and_added_again_gets_a_new_revision_and_starts_empty():
    rules = RuleSet()
    rules.apply({"op": "add", "id": "ab", "pattern": pair("a", "b")})
    multi = MultiMatcher(rules)
    multi.process({"name": "a"}, 1)
    blob = multi.snapshot()
    first = rules.active["ab"].revision
    rules.apply({"op": "remove", "id": "ab"})
    rules.apply({"op": "add", "id": "ab", "pattern": pair("a", "b")})
    assert rules.active["ab"].revision > first
    # neither the key's matcher in memory (not touched since) nor its stored state carry the a over
    assert multi.process({"name": "b"}, 2) == []
    assert MultiMatcher.restore(rules, blob).process({"name": "b"}, 2) == []


def test_revisions_stay_new_after_the_rule_set_is_restored():
    rules = RuleSet()
    rules.apply({"op": "add", "id": "ab", "pattern": pair("a", "b")})
    rules.apply({"op": "remove", "id": "ab"})
    rules.apply({"op": "add", "id": "cd", "pattern": pair("c", "d")})
    stored = [
        (pid, json.dumps({"revision": a.revision, "pattern": a.document, "meta": a.meta}))
        for pid, a in rules.active.items()
    ] + [(EPOCH_KEY, str(rules.epoch))]
    restored = RuleSet()
    restored.load(stored)
    assert restored.active["cd"].revision == rules.active["cd"].revision
    restored.apply({"op": "add", "id": "ab", "pattern": pair("a", "b")})
    assert restored.active["ab"].revision > rules.epoch  # above every revision ab ever had


def test_a_rule_change_that_drops_a_keys_partial_matches_counts_as_a_change():
    rules = RuleSet()
    rules.apply({"op": "set", "patterns": {"ab": pair("a", "b"), "cd": pair("c", "d")}})
    multi = MultiMatcher(rules)
    multi.process({"name": "a"}, 1)
    assert multi.advance_time_changed(2) == ([], [], False)
    rules.apply({"op": "remove", "id": "cd"})  # cd held nothing for this key
    assert multi.advance_time_changed(3) == ([], [], False)
    rules.apply({"op": "replace", "id": "ab", "pattern": pair("a", "b")})  # ab held the a
    assert multi.advance_time_changed(4) == ([], [], True)
    assert multi.is_empty()
