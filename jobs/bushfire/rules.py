"""Detection rules as data: the ``--rules`` JSON file, checked whole, each rule made a fire-chain pattern.

A rules file is a JSON array (or ``{"rules": [...]}``) of objects::

    {"id": "warning", "regions": ["*"], "threshold": 50, "chain_length": 5, "window": "10m",
     "severity": "warning"}

``regions`` is ``["*"]`` (every region) or a list of region names; ``window`` is milliseconds or a
duration text (``"90s"``, ``"10m"``); ``severity`` is one of `SEVERITIES`. A file with any fault is
refused as a whole (`RulesError`, naming the rule and field), so a typo never half-applies.
Without ``--rules`` the job's flags (``--threshold``, ``--chain-length``, ``--window``) make the one rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Optional

from cep import conditions as C
from cep.pattern import Pattern
from cep.serde import pattern_to_dict
from jobs.bushfire.config import ConfigError, DetectionConfig, parse_duration_ms
from jobs.bushfire.patterns import fire_chain, stage_name

__all__ = ["SEVERITIES", "Rule", "RulesError", "parse_rules", "read_rules", "rule_pattern", "rules_update"]

SEVERITIES = ("watch", "warning", "high", "critical", "emergency")
ALL_REGIONS = "*"
_FIELDS = ("id", "regions", "threshold", "chain_length", "window", "severity")


class RulesError(ConfigError):
    """A rules file that cannot be used; the message names the rule and the field."""


@dataclass(frozen=True)
class Rule:
    """One detection rule: a fire chain of `chain_length` nodes >= `threshold` within `window_ms`."""

    rule_id: str
    regions: Optional[tuple[str, ...]]  # None: every region
    threshold_c: float
    chain_length: int
    window_ms: int
    severity: str

    @staticmethod
    def from_flags(detection: DetectionConfig) -> Rule:
        """The one rule today's flags describe (id ``default``, severity ``warning``)."""
        return Rule(
            "default", None, detection.threshold_c, detection.chain_length, detection.window_ms, "warning"
        )


def read_rules(path: str) -> dict[str, Rule]:
    """The rules of the file at `path` (see the module notes); `RulesError` when it cannot be used."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise RulesError(f"rules file {path}: cannot read it: {exc}") from exc
    return parse_rules(text, path)


def parse_rules(text: str, source: str = "rules") -> dict[str, Rule]:
    """Rules from JSON text, checked whole; ids are unique."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RulesError(f"{source}: not JSON: {exc}") from exc
    items = doc.get("rules") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise RulesError(f'{source}: expected a non-empty JSON array of rules (or {{"rules": [...]}})')
    rules: dict[str, Rule] = {}
    for index, item in enumerate(items):
        rule = _rule(item, f"{source}: rule {index + 1}")
        if rule.rule_id in rules:
            raise RulesError(f"{source}: rule {index + 1}: duplicate id {rule.rule_id!r}")
        rules[rule.rule_id] = rule
    return rules


def _rule(item: Any, where: str) -> Rule:
    if not isinstance(item, dict):
        raise RulesError(f"{where}: expected an object with {list(_FIELDS)}")
    unknown = sorted(set(item) - set(_FIELDS))
    if unknown:
        raise RulesError(f"{where}: unknown field {unknown[0]!r} (fields: {list(_FIELDS)})")
    missing = [name for name in _FIELDS if name not in item]
    if missing:
        raise RulesError(f"{where}: missing field {missing[0]!r}")
    rule_id = item["id"]
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise RulesError(f"{where}: 'id' must be a non-empty string")
    where = f"{where} ({rule_id!r})"
    regions = item["regions"]
    if not isinstance(regions, list) or not regions or not all(isinstance(r, str) and r for r in regions):
        raise RulesError(f"{where}: 'regions' must be [\"*\"] or a non-empty list of region names")
    threshold = item["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise RulesError(f"{where}: 'threshold' must be a number (degrees C)")
    chain = item["chain_length"]
    if isinstance(chain, bool) or not isinstance(chain, int) or chain < 2:
        raise RulesError(f"{where}: 'chain_length' must be an integer >= 2")
    try:
        window = parse_duration_ms(item["window"])
    except (ConfigError, TypeError, ValueError) as exc:
        raise RulesError(f"{where}: 'window': {exc}") from exc
    if window <= 0:
        raise RulesError(f"{where}: 'window' must be positive")
    severity = item["severity"]
    if severity not in SEVERITIES:
        raise RulesError(f"{where}: 'severity' must be one of {list(SEVERITIES)}, got {severity!r}")
    scope = None if ALL_REGIONS in regions else tuple(regions)
    return Rule(rule_id, scope, float(threshold), chain, window, severity)


def rule_pattern(rule: Rule) -> Pattern:
    """The job's fire-chain pattern for the rule; a region list becomes a condition on the first node."""
    detection = replace(
        DetectionConfig(),
        threshold_c=rule.threshold_c,
        chain_length=rule.chain_length,
        window_ms=rule.window_ms,
    )
    pattern = fire_chain(detection)
    if rule.regions is not None:
        first = next(s for s in pattern.stages() if s.name == stage_name(1))
        first.where(C.field("region").isin(rule.regions))
    return pattern


def rules_update(rules: Mapping[str, Rule]) -> dict:
    """The `cep.flink.dynamic` ``set`` update running exactly these rules (severity as meta)."""
    return {
        "op": "set",
        "patterns": {rid: pattern_to_dict(rule_pattern(rule)) for rid, rule in rules.items()},
        "meta": {rid: {"severity": rule.severity} for rid, rule in rules.items()},
    }


def lowest_threshold(rules: Sequence[Rule]) -> float:
    return min(rule.threshold_c for rule in rules)
