"""Random conformance cases (pattern, skip strategy, events) for differential tests against Flink.

Seeded and reproducible: `generate(seed, n)` gives the same cases on every machine. Patterns are
small (one to four stages) and streams short, over few names and prices, so that matches are common
and competing matches under a skip strategy are frequent. Every builder call of the conformance
format appears (see docs/differential-testing.md), and a share of the patterns is deliberately
malformed so that rejections are compared too.
"""

from __future__ import annotations

import random
from typing import Any

import cep

NAMES = ("a", "b", "c")
SKIPS = ("no_skip", "skip_to_next", "skip_past_last_event", "skip_to_first", "skip_to_last")
POSITIVE = ("next", "followed_by", "followed_by_any")
NEGATIVE = ("not_next", "not_followed_by")
CMP = ("eq", "ne", "lt", "le", "gt", "ge")
#: Whether the engine has within(..., WithinType.PREVIOUS_AND_CURRENT) (issue 12 item 3) to compare.
WITHIN_PREVIOUS = hasattr(cep, "WithinType")
#: Share of cases that get one deliberately suspicious builder call (often one Flink rejects).
MALFORMED_RATE = 0.08


class _Builder:
    """Builds one random case; `names` are the stage names so far, for iterative conditions."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: list[str] = []
        self.counter = 0

    # ---------------------------------------------------------------- conditions
    def simple_cond(self, subtype: bool = False) -> dict:
        r = self.rng
        roll = r.random()
        if roll < 0.45:
            return {"field": "name", "op": r.choice(("eq", "eq", "ne")), "value": r.choice(NAMES)}
        if roll < 0.8:
            field = "volume" if subtype and r.random() < 0.5 else "price"
            return {"field": field, "op": r.choice(CMP), "value": float(r.randint(1, 5))}
        if roll < 0.85:
            return {"field": "name", "op": r.choice(("startswith", "contains")), "value": r.choice(NAMES)}
        if roll < 0.9:
            return {"true": True}
        if roll < 0.95:
            return {"not": self.simple_cond(subtype)}
        return {r.choice(("and", "or")): [self.simple_cond(subtype), self.simple_cond(subtype)]}

    def iterative_cond(self, own: str) -> dict:
        r = self.rng
        pattern = r.choice(self.names + [own]) if self.names else own
        kind = r.choice(("sum", "count", "any"))
        if kind == "sum":
            return {"iter": "sum", "pattern": pattern, "field": "price",
                    "include_current": r.random() < 0.5, "op": r.choice(CMP),
                    "value": float(r.randint(2, 12))}  # fmt: skip
        if kind == "count":
            return {"iter": "count", "pattern": pattern, "include_current": r.random() < 0.5,
                    "op": r.choice(CMP), "value": r.randint(0, 3)}  # fmt: skip
        rel = {"field": "price", "op": r.choice(CMP), "other_field": "price"}
        return {"iter": "any", "pattern": pattern, "cond_rel": rel}

    def cond(self, own: str, subtype: bool) -> dict:
        if self.rng.random() < 0.15:
            return self.iterative_cond(own)
        return self.simple_cond(subtype)

    # ---------------------------------------------------------------- stages
    def new_name(self) -> str:
        name = f"s{self.counter}"
        self.counter += 1
        return name

    def stage_body(self, name: str, negated: bool, in_group: bool = False) -> list[dict]:
        """The calls after a stage is opened: conditions, quantifier, modifiers.

        Stages inside a group are never optional: a group whose body can match no event makes a
        looping group spin forever, in Flink's NFA as in this engine (see the docs' exclusions).
        """
        r = self.rng
        ops: list[dict] = []
        subtype = r.random() < 0.1
        if subtype:
            ops.append({"op": "subtype", "type": "SubEvent"})
        if r.random() < 0.9:
            ops.append({"op": "where", "cond": self.cond(name, subtype)})
        if r.random() < 0.15:
            # or_where widens past the subtype, so it must not read SubEvent's own field
            ops.append({"op": "or_where", "cond": self.cond(name, False)})
        if negated:
            return ops
        roll = r.random()
        looping = False
        if roll < 0.18:
            ops.append({"op": "one_or_more"})
            looping = True
        elif roll < 0.3:
            n = r.randint(1, 3)
            ops.append({"op": "times", "from": n, "to": n})
        elif roll < 0.42:
            low = r.randint(1, 2)
            ops.append({"op": "times", "from": low, "to": low + r.randint(1, 2)})
        elif roll < 0.5:
            ops.append({"op": "times_or_more", "n": r.randint(1, 3)})
            looping = True
        quantified = roll < 0.5
        if quantified:
            if r.random() < 0.3:
                ops.append({"op": "consecutive"})
            elif r.random() < 0.3:
                ops.append({"op": "allow_combinations"})
            if looping and r.random() < 0.25:
                ops.append({"op": "until", "cond": self.simple_cond(False)})  # until sees every event
            if r.random() < 0.25:
                ops.append({"op": "greedy"})
        if not in_group and r.random() < 0.2:
            ops.append({"op": "optional"})
        return ops

    def group(self) -> list[dict]:
        """A nested group pattern of one or two positive stages."""
        first = self.new_name()
        ops = [{"op": "begin", "name": first}] + self.stage_body(first, False, in_group=True)
        self.names.append(first)
        if self.rng.random() < 0.6:
            name = self.new_name()
            ops.append({"op": self.rng.choice(POSITIVE), "name": name})
            ops += self.stage_body(name, False, in_group=True)
            self.names.append(name)
        return ops

    def group_quantifier(self) -> list[dict]:
        r = self.rng
        roll = r.random()
        if roll < 0.3:
            return [{"op": "one_or_more"}]
        if roll < 0.5:
            n = r.randint(1, 2)
            return [{"op": "times", "from": n, "to": n + r.randint(0, 1)}]
        if roll < 0.6:
            return [{"op": "optional"}]
        return []

    def pattern(self) -> tuple[list[dict], list[str]]:
        """Builder calls and the top-level stage names (for skip_to_first/last)."""
        r = self.rng
        ops: list[dict] = []
        top: list[str] = []
        stages = r.randint(1, 4)
        for i in range(stages):
            if r.random() < 0.1:
                verb = "begin_group" if i == 0 else r.choice(POSITIVE) + "_group"
                ops.append({"op": verb, "pattern": self.group()})
                ops += self.group_quantifier()
                continue
            name = self.new_name()
            negated = i > 0 and r.random() < 0.2
            verb = "begin" if i == 0 else r.choice(NEGATIVE if negated else POSITIVE)
            ops.append({"op": verb, "name": name})
            ops += self.stage_body(name, negated)
            self.names.append(name)
            top.append(name)
            if i < stages - 1 and r.random() < 0.03:  # Flink takes the window from any stage
                ops.append({"op": "within", "ms": r.randint(2, 10)})
        if r.random() < 0.35 or (_ends_negated(ops) and r.random() < 0.9):
            ops.append({"op": "within", "ms": r.randint(2, 10)})
            if WITHIN_PREVIOUS and r.random() < 0.25:
                ops[-1]["type"] = "previous"  # WithinType.PREVIOUS_AND_CURRENT
        return ops, top

    def skip(self, top: list[str]) -> dict:
        r = self.rng
        strategy = r.choice(SKIPS)
        if strategy in ("skip_to_first", "skip_to_last"):
            choices = top or self.names or ["s0"]
            return {"strategy": strategy, "name": r.choice(choices)}
        return {"strategy": strategy}

    def events(self) -> tuple[list[dict], int]:
        r = self.rng
        ts = 0
        out = []
        for i in range(r.randint(3, 12)):
            ts += r.choice((0, 1, 1, 1, 2, 3)) if i else 1
            event: dict[str, Any] = {"id": i + 1, "name": r.choice(NAMES), "price": float(r.randint(1, 5)),
                                     "type": "Event", "ts": ts}  # fmt: skip
            if r.random() < 0.3:
                event["type"] = "SubEvent"
                event["volume"] = float(r.randint(1, 5))
            out.append(event)
        return out, ts


def _ends_negated(ops: list[dict]) -> bool:
    """True if the last top-level stage is a not_next/not_followed_by (Flink needs a window then)."""
    stage_ops = [op["op"] for op in ops if op["op"] in POSITIVE + NEGATIVE or op["op"].endswith("_group")]
    return bool(stage_ops) and stage_ops[-1] in NEGATIVE


def _malform(rng: random.Random, ops: list[dict]) -> list[dict]:
    """One suspicious call: a mistake users make, most of which Flink rejects."""
    roll = rng.random()
    ops = list(ops)
    if roll < 0.15:
        ops.append({"op": "greedy"})
    elif roll < 0.3:
        ops.append({"op": "optional"})
    elif roll < 0.4:
        ops.append({"op": "until", "cond": {"field": "name", "op": "eq", "value": "c"}})
    elif roll < 0.5:
        ops.append({"op": "times", "from": rng.choice((0, 3)), "to": rng.choice((0, 2))})
    elif roll < 0.6:
        ops.append({"op": "times_or_more", "n": 0})
    elif roll < 0.7:
        ops.append({"op": rng.choice(("consecutive", "allow_combinations"))})
    elif roll < 0.8:
        first = next(op["name"] for op in ops if "name" in op) if any("name" in op for op in ops) else "s0"
        ops.append({"op": "followed_by", "name": first})  # duplicate name
    elif roll < 0.9:
        ops.append({"op": "not_followed_by", "name": "zz"})  # negation last, maybe without window
    else:
        ops += [{"op": "not_next", "name": "zz"}, {"op": "optional"}]  # an optional negation
    return ops


def generate_case(seed: int, index: int) -> dict:
    """Case `index` of the stream for `seed` (independent of the other cases)."""
    rng = random.Random(f"{seed}:{index}")
    builder = _Builder(rng)
    ops, top = builder.pattern()
    if rng.random() < MALFORMED_RATE:
        ops = _malform(rng, ops)
    events, last_ts = builder.events()
    case: dict[str, Any] = {"id": f"random-{seed}-{index}", "pattern": ops, "skip": builder.skip(top),
                            "events": events}  # fmt: skip
    if rng.random() < 0.7:
        case["advance_to"] = last_ts + rng.randint(0, 12)
    return case


def generate(seed: int, count: int, start: int = 0) -> list[dict]:
    return [generate_case(seed, i) for i in range(start, start + count)]
