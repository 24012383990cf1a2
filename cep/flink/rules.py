"""The rule set of `cep.flink.dynamic`: which patterns are active, and the updates that change it.

Plain Python (this module uses nothing of pyflink): `RuleSet` checks and applies updates
(`parse_update` reads them) and keeps the OR of the active patterns' pre-filters; `cep.flink.dynamic`
stores it in Flink broadcast state, and `cep.flink.multi_matcher` follows it per key.

Revisions: every change of a pattern gives it a new revision, the number of the rule-set change
(`RuleSet.epoch`) that made it. The epoch is stored with the rules and restored, so a revision is never
reused, not even by a pattern removed and added again: per-key state of an older revision is never
taken for the new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

from cep.analysis import prefilter as derive_prefilter
from cep.conditions import Condition
from cep.errors import CepError
from cep.implication import implies
from cep.matcher import Matcher
from cep.pattern import Pattern
from cep.serde import pattern_from_dict

#: The broadcast state's key that holds the rule-set epoch (and marks the state written).
EPOCH_KEY = "$epoch"

OPS = ("add", "replace", "remove", "set")


@dataclass(frozen=True)
class ActivePattern:
    """One running pattern: its id, revision, document and the pattern built from it."""

    pattern_id: str
    revision: int
    document: dict
    pattern: Pattern
    meta: Any = None  # what the update said about the pattern besides its document (e.g. a severity)


class UpdateError(CepError):
    """A pattern update that cannot be applied; the message says why."""


class RuleSet:
    """The active patterns of one function instance, and the pre-filter they imply together."""

    def __init__(self, upstream_filter: Optional[Condition] = None) -> None:
        self.upstream_filter = upstream_filter
        self.active: dict[str, ActivePattern] = {}
        self.epoch = 0  # bumped at every change, so matchers know when to look again
        self._admits: Optional[Callable[..., bool]] = _nothing

    # -- reading ------------------------------------------------------------------------------------

    def admits(self, event: Any, ctx: Any = None) -> bool:
        """Whether some active pattern could use `event` (its pre-filter, ORed over patterns)."""
        return self._admits is None or self._admits(event, ctx)

    def compile(self) -> Callable[..., bool]:
        """The pre-filter protocol `CepFunction` expects: a function that follows later changes."""
        return self.admits

    # -- changing -----------------------------------------------------------------------------------

    def check(self, pattern_id: str, document: Any) -> Pattern:
        """Build and compile a pattern document; `UpdateError` when it cannot run here."""
        if not isinstance(pattern_id, str) or not pattern_id or pattern_id == EPOCH_KEY:
            raise UpdateError(f"a pattern id must be a non-empty string, got {pattern_id!r}")
        try:
            pattern = pattern_from_dict(document)
            matcher = Matcher(pattern)
        except CepError as exc:
            raise UpdateError(f"pattern {pattern_id!r}: {exc}") from exc
        if self.upstream_filter is not None:
            own = matcher.prefilter
            if own is None or not implies(own, self.upstream_filter):
                raise UpdateError(
                    f"pattern {pattern_id!r} could need events the upstream filter "
                    f"{self.upstream_filter.to_sql()} drops (its own pre-filter: "
                    f"{own.to_sql() if own is not None else 'none, it needs every event'}); "
                    "restart the job with a wider upstream filter to run it"
                )
        return pattern

    def apply(self, update: dict) -> dict[str, Optional[ActivePattern]]:
        """Apply a parsed update; returns what changed (id -> new pattern, or None if removed).

        Everything is checked before anything changes: an update is applied whole or not at all.
        """
        op = update["op"]
        changes: dict[str, Optional[ActivePattern]] = {}
        if op == "remove":
            pattern_id = update["id"]
            if pattern_id not in self.active:
                raise UpdateError(f"remove: no active pattern {pattern_id!r} (active: {sorted(self.active)})")
            changes[pattern_id] = None
        elif op in ("add", "replace"):
            pattern_id = update["id"]
            exists = pattern_id in self.active
            if op == "add" and exists:
                raise UpdateError(f"add: pattern {pattern_id!r} is already active; use replace")
            if op == "replace" and not exists:
                raise UpdateError(f"replace: no active pattern {pattern_id!r}; use add")
            pattern = self.check(pattern_id, update["pattern"])
            changes[pattern_id] = self._next(pattern_id, update["pattern"], pattern, update.get("meta"))
        else:  # set
            wanted = update["patterns"]
            metas = update.get("meta") or {}
            built = {pid: self.check(pid, doc) for pid, doc in wanted.items()}
            for pid in self.active:
                if pid not in wanted:
                    changes[pid] = None
            for pid, doc in wanted.items():
                current = self.active.get(pid)
                meta = metas.get(pid)
                if current is None or current.document != doc or current.meta != meta:
                    changes[pid] = self._next(pid, doc, built[pid], meta)
        self._commit(changes)
        return changes

    def load(self, stored: Iterable[tuple[str, str]]) -> None:
        """Restore the rule set from broadcast state entries (id -> JSON ``{"revision", "pattern"}``,
        and `EPOCH_KEY` -> the epoch they were stored at)."""
        changes: dict[str, Optional[ActivePattern]] = {}
        for pattern_id, text in stored:
            if pattern_id == EPOCH_KEY:
                self.epoch = max(self.epoch, int(text))
                continue
            entry = json.loads(text)
            pattern = pattern_from_dict(entry["pattern"])
            changes[pattern_id] = ActivePattern(
                pattern_id, entry["revision"], entry["pattern"], pattern, entry.get("meta")
            )
        self._commit(changes)

    def _next(self, pattern_id: str, document: dict, pattern: Pattern, meta: Any = None) -> ActivePattern:
        """The pattern at a new revision: the epoch the change being made will bring (never reused)."""
        return ActivePattern(pattern_id, self.epoch + 1, document, pattern, meta)

    def _commit(self, changes: Mapping[str, Optional[ActivePattern]]) -> None:
        for pattern_id, active in changes.items():
            if active is None:
                self.active.pop(pattern_id, None)
            else:
                self.active[pattern_id] = active
        self.epoch += 1
        self._admits = self._combined_prefilter()

    def _combined_prefilter(self) -> Optional[Callable[..., bool]]:
        if not self.active:
            return _nothing
        parts = []
        for active in self.active.values():
            part = derive_prefilter(active.pattern)
            if part is None:
                return None
            parts.append(part.compile())
        if len(parts) == 1:
            return parts[0]
        return lambda event, ctx=None: any(part(event, ctx) for part in parts)


def _nothing(event: Any, ctx: Any = None) -> bool:
    return False


def parse_update(raw: Any) -> dict:
    """Read one update: JSON text (or a dict) of one of these shapes.

    ``{"op": "add" | "replace", "id": ID, "pattern": DOC}``, ``{"op": "remove", "id": ID}``,
    ``{"op": "set", "patterns": {ID: DOC, ...}}``, where DOC is a `cep.serde` pattern document.
    An optional ``"meta"`` (for ``set``: ID -> meta) travels with the pattern to the match function
    (`DynamicMatchContext.meta`), e.g. a rule's severity; a changed meta is a new revision.
    """
    if isinstance(raw, (str, bytes, bytearray)):
        try:
            update = json.loads(raw)
        except ValueError as exc:
            raise UpdateError(f"not a JSON document: {exc}") from exc
    else:
        update = raw
    if not isinstance(update, dict):
        raise UpdateError(f"an update is a JSON object, got {type(update).__name__}")
    op = update.get("op")
    if op not in OPS:
        raise UpdateError(f"$.op: one of {list(OPS)}, got {op!r}")
    needed = {"add": ("id", "pattern"), "replace": ("id", "pattern"), "remove": ("id",), "set": ("patterns",)}
    unknown = sorted(set(update) - {"op", "meta", *needed[op]})
    if unknown:
        raise UpdateError(f"$.{unknown[0]}: unknown field for op {op!r}")
    for name in needed[op]:
        if name not in update:
            raise UpdateError(f"$.{name}: required for op {op!r}")
    if op == "set" and not isinstance(update["patterns"], dict):
        raise UpdateError("$.patterns: an object of pattern id -> pattern document")
    if op == "set" and not isinstance(update.get("meta", {}), dict):
        raise UpdateError("$.meta: an object of pattern id -> anything JSON")
    return update
