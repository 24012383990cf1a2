"""Patterns as JSON documents (`cep.serde`): exact round trips, refusals, and errors that name the field."""

from __future__ import annotations

import json
import operator

import pytest

from cep import AfterMatchSkipStrategy, CepError, MalformedPatternError, Matcher, Pattern
from cep import conditions as C
from cep.serde import (
    SCHEMA_VERSION,
    condition_from_dict,
    condition_to_dict,
    pattern_from_dict,
    pattern_from_json,
    pattern_to_dict,
    pattern_to_json,
)
from jobs.bushfire.config import DetectionConfig
from jobs.bushfire.patterns import fire_chain


def every_feature() -> Pattern:
    """One pattern using each builder feature the schema covers."""
    inner = Pattern.begin("g1").where(C.field("kind").startswith("a")).followed_by("g2").where(
        C.field("kind").contains("b")
    )
    return (
        Pattern.begin("a", skip_strategy=AfterMatchSkipStrategy.skip_to_last("b").throw_exception_on_miss())
        .where((C.field("v") >= 1) & ~C.field("kind").is_null())
        .next("b")
        .where(C.field("kind").isin(["a", "b", 3, 2.5, True]))
        .times(1, 3)
        .optional()
        .greedy()
        .consecutive()
        .followed_by("c")
        .where((C.field("kind") == C.last("a", "kind")) | C.unseen("kind") | C.false())
        .one_or_more()
        .allow_combinations()
        .until(C.field("v") < 0)
        .within(5_000)
        .followed_by_any(inner)
        .times_or_more(2)
        .not_followed_by("d")
        .where(C.field("kind") != "x")
        .followed_by("e")
        .where(C.true())
        .within(9_000)
        .dedupe_runs(operator.itemgetter("kind", "v"))
    )


def test_every_feature_round_trips_through_json_text() -> None:
    pattern = every_feature()
    doc = pattern_to_dict(pattern)
    again = pattern_from_json(pattern_to_json(pattern))
    assert pattern_to_dict(again) == doc
    assert Matcher(again).nfa.fingerprint() == Matcher(pattern).nfa.fingerprint()
    assert doc["version"] == SCHEMA_VERSION
    assert doc["skip"] == {"kind": "skip_to_last", "stage": "b", "throw_on_miss": True}
    assert doc["stages"][1]["quantifier"] == {
        "kind": "times", "min": 1, "max": 3, "inner": "consecutive", "greedy": True
    }
    assert doc["stages"][3]["group"]["stages"][0]["name"] == "g1"
    assert doc["stages"][-1]["dedupe_runs"] == {"fields": ["kind", "v"]}


def test_the_pattern_methods_are_the_module_functions() -> None:
    pattern = every_feature()
    assert Pattern.from_dict(pattern.to_dict()).to_dict() == pattern.to_dict()


def test_the_bushfire_pattern_round_trips_and_finds_the_same_chain() -> None:
    pattern = fire_chain(DetectionConfig(threshold_c=50.0, chain_length=3, window_ms=600_000))
    again = pattern_from_dict(json.loads(json.dumps(pattern_to_dict(pattern))))
    events = [
        {"node": "n1", "infectedBy": "n1", "temperature": 60.0, "ts": 1_000},
        {"node": "n2", "infectedBy": "n1", "temperature": 61.0, "ts": 2_000},
        {"node": "n3", "infectedBy": "n2", "temperature": 62.0, "ts": 3_000},
    ]
    found = []
    for p in (pattern, again):
        m = Matcher(p)
        found.append([m.process(e, e["ts"]) for e in events])
    assert found[0] == found[1]
    assert [e["node"] for stage in ("n1", "n2", "n3") for e in found[1][2][0][stage]] == ["n1", "n2", "n3"]


def test_a_condition_document_round_trips() -> None:
    cond = (C.field("t") >= 50.5) & ((C.field("r") == "x") | ~C.field("r").isin([1, 2]))
    doc = condition_to_dict(cond)
    assert doc["op"] == "and"
    assert repr(condition_from_dict(json.loads(json.dumps(doc)))) == repr(cond)


@pytest.mark.parametrize(
    ("pattern", "refusal"),
    [
        (Pattern.begin("a").where(lambda e: True), "stage 'a'"),
        (Pattern.begin("a").followed_by("b").where(C.field("v") > 1).or_where(lambda e: 1), "stage 'b'"),
        (Pattern.begin("a").subtype(dict), "subtype"),
        (Pattern.begin("a").one_or_more().until(lambda e: True), "until() of stage 'a'"),
        (Pattern.begin("a").within(5).dedupe_runs(lambda e: e["n"]), "dedupe_runs key of stage 'a'"),
        (Pattern.begin("a").within(5).dedupe_runs(operator.itemgetter(0)), "itemgetter"),
        (Pattern.begin("a").where(C.field("v") == float("nan")), "finite"),
        (Pattern.begin("a").where(C.field("v") == (1, 2)), "JSON literal"),
    ],
)
def test_what_is_not_data_is_refused_with_the_stage_named(pattern: Pattern, refusal: str) -> None:
    with pytest.raises(CepError, match="cannot be written as data|not a finite|JSON literal") as info:
        pattern_to_dict(pattern)
    assert refusal in str(info.value)


def _doc(**stage_b: object) -> dict:
    """A valid two-stage document whose second stage is overridden by `stage_b`."""
    doc = pattern_to_dict(
        Pattern.begin("a").where(C.field("v") >= 1).followed_by("b").where(C.field("v") >= 2).within(10)
    )
    doc["stages"][1].update(stage_b)
    return doc


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ([], "$: expected an object"),
        ({"version": 2, "skip": {"kind": "no_skip"}, "stages": []}, "$.version"),
        ({"version": True}, "$.version: expected an integer"),
        ({"version": 1, "stages": []}, "$.skip: required"),
        ({"version": 1, "skip": {"kind": "skip_sideways"}, "stages": []}, "$.skip.kind"),
        ({"version": 1, "skip": {"kind": "no_skip"}, "stages": []}, "$.stages: a pattern needs"),
        ({"version": 1, "skip": {"kind": "no_skip"}, "stages": [{"name": "a"}], "extra": 1}, "$.extra"),
        (_doc(contiguity="eventually"), "$.stages[1].contiguity"),
        (_doc(where={"op": ">=", "field": "v", "value": [1]}), "$.stages[1].where.value"),
        (_doc(where={"op": "and", "items": [{"op": "true"}, {"op": "~"}]}), "$.stages[1].where.items[1].op"),
        (_doc(where={"op": "==", "field": "v", "last": {"stage": "a"}}), "$.stages[1].where.last.field"),
        (_doc(where={"op": "in", "field": "v", "values": []}), "$.stages[1].where.values"),
        (_doc(quantifier={"kind": "times", "min": 0, "max": 2}), "$.stages[1].quantifier.min"),
        (_doc(quantifier={"kind": "times", "min": 3, "max": 2}), "$.stages[1]: times"),
        (
            _doc(quantifier={"kind": "times_or_more", "min": 1, "inner": "loose"}),
            "$.stages[1].quantifier.inner",
        ),
        (_doc(until={"op": "true"}), "$.stages[1]: until() applies only to looping"),
        (_doc(within_ms=-5), "$.stages[1]: within() needs a positive window"),
        (_doc(name="a"), "$.stages[1]: duplicate pattern name"),
        (_doc(dedupe_runs={"fields": []}), "$.stages[1].dedupe_runs.fields"),
        (_doc(optional="yes"), "$.stages[1].optional: expected true or false"),
        (_doc(typo=1), "$.stages[1].typo: unknown field"),
    ],
)
def test_an_invalid_document_names_the_field(doc: object, path: str) -> None:
    with pytest.raises(MalformedPatternError) as info:
        pattern_from_dict(doc)
    assert str(info.value).startswith(path), str(info.value)


def test_text_that_is_not_json_is_malformed_at_the_root() -> None:
    with pytest.raises(MalformedPatternError, match=r"^\$: not a JSON document"):
        pattern_from_json("{not json")
