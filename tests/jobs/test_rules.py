"""`--rules`: the rules file checked whole, each rule a fire-chain pattern (no cluster here)."""

from __future__ import annotations

import json

import pytest

from cep import Matcher
from jobs.bushfire.alert_format import Severity, format_text, severity_of
from jobs.bushfire.rules import RulesError, parse_rules, rule_pattern, rules_update
from jobs.bushfire.sns_alerts import AlertPublisher

RULES = [
    {"id": "watch", "regions": ["*"], "threshold": 45, "chain_length": 3, "window": "5m",
     "severity": "watch"},
    {"id": "warning", "regions": ["r1", "r2"], "threshold": 50, "chain_length": 5, "window": 600000,
     "severity": "warning"},
]  # fmt: skip


def test_a_valid_file_gives_one_pattern_per_rule():
    rules = parse_rules(json.dumps({"rules": RULES}))
    assert sorted(rules) == ["warning", "watch"]
    assert rules["watch"].window_ms == 300_000 and rules["watch"].regions is None
    assert rules["warning"].regions == ("r1", "r2")
    update = rules_update(rules)
    assert update["meta"] == {"watch": {"severity": "watch"}, "warning": {"severity": "warning"}}
    assert len(update["patterns"]["warning"]["stages"]) == 5


def test_a_region_list_limits_the_first_node():
    pattern = rule_pattern(parse_rules(json.dumps(RULES))["warning"])
    chain = [
        {"node": f"n{i}", "infectedBy": f"n{max(i - 1, 1)}", "temperature": 60.0, "ts": i * 1000,
         "region": region}
        for region in ("r1", "r9")
        for i in range(1, 6)
    ]
    found = []
    for region in ("r1", "r9"):
        matcher = Matcher(pattern)
        for event in (e for e in chain if e["region"] == region):
            found += [(region, len(m)) for m in matcher.process(event, event["ts"])]
    assert found == [("r1", 5)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[", "not JSON"),
        ("[]", "non-empty JSON array"),
        (json.dumps([{**RULES[0], "threshold": "hot"}]), "rule 1 ('watch'): 'threshold'"),
        (json.dumps([RULES[0], {**RULES[1], "chain_length": 1}]), "rule 2 ('warning'): 'chain_length'"),
        (json.dumps([{**RULES[0], "severity": "panic"}]), "'severity' must be one of"),
        (json.dumps([{**RULES[0], "regions": []}]), "'regions'"),
        (json.dumps([{**RULES[0], "window": "soon"}]), "'window'"),
        (json.dumps([RULES[0], RULES[0]]), "duplicate id 'watch'"),
        (json.dumps([{**RULES[0], "colour": "red"}]), "unknown field 'colour'"),
        (json.dumps([{k: v for k, v in RULES[0].items() if k != "id"}]), "missing field 'id'"),
    ],
)
def test_a_bad_file_is_refused_whole_naming_rule_and_field(text, message):
    with pytest.raises(RulesError) as info:
        parse_rules(text, "rules.json")
    assert message in str(info.value)


def test_the_alert_carries_the_rules_severity_and_id_to_sns_and_text():
    alert = {
        "alert_id": "a1", "region": "r1", "path": ["1", "2", "3"], "first_ts": 0, "last_ts": 60_000,
        "readings": [], "rule_id": "watch", "severity": "watch",
    }  # fmt: skip
    assert severity_of(alert) is Severity.WATCH
    assert "Rule: watch" in format_text(alert, Severity.WATCH)
    publisher = AlertPublisher("arn:aws:sns:ap-southeast-2:123456789012:alerts", endpoint_url="http://127.0.0.1:9")
    attributes = publisher.message_fields(alert)["MessageAttributes"]
    assert attributes["rule_id"]["StringValue"] == "watch"
    assert attributes["severity"]["StringValue"] == "watch"
