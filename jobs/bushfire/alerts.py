"""Alerts (CONTRACTS section 5): built from a match, identified by region + path, one per path.

An alert's id depends only on the region and the node path, so the same path found again (a burning
node keeps reporting, or the job replays input after a restart) has the same id and is recognised.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from jobs.bushfire.alert_format import iso_utc, path_text
from jobs.bushfire.parsing import now_ms

READING_KEYS = ("node", "ts", "temperature", "lat", "lon")
#: How many recently emitted alert ids `MatchToAlert` remembers (per operator instance).
RECENT_ALERTS_REMEMBERED = 100_000


def alert_id(region: str, path: Sequence[str]) -> str:
    """Deterministic id of the alert for `path` in `region` (hex, 32 characters)."""
    text = json.dumps([region, list(path)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def build_alert(readings: Sequence[dict[str, Any]], detected_at: int) -> dict[str, Any]:
    """The alert for a chain of readings (first node first); `detected_at` is processing time (ms)."""
    region = readings[0]["region"]
    path = [r["node"] for r in readings]
    return {
        "alert_id": alert_id(region, path),
        "region": region,
        "path": path,
        "first_ts": readings[0]["ts"],
        "last_ts": readings[-1]["ts"],
        "readings": [{key: r[key] for key in READING_KEYS} for r in readings],
        "detected_at": detected_at,
    }


class MatchToAlert:
    """`PatternStream.process` function: one alert per match of a path not emitted lately.

    A burning node reports every minute, so the engine completes the same path many times (37k
    matches for 1.4k paths on the benchmark stream). Each repeat would cross to the keyed
    `FirstAlertPerPath` step, which decides for good from checkpointed state. This in-memory
    filter only spares those crossings: it starts empty after a restart, so a repeat it forgets is
    still caught downstream, and it never drops the first match of a path in this process.
    """

    def __init__(self, stage_names: Sequence[str]) -> None:
        self.stage_names = tuple(stage_names)
        self._recent: OrderedDict[str, None] = OrderedDict()

    def __call__(self, match: dict[str, list[dict]], ctx: Any) -> list[dict[str, Any]]:
        readings = [match[name][-1] for name in self.stage_names]
        region = readings[0]["region"]
        key = alert_id(region, [r["node"] for r in readings])
        if key in self._recent:
            return []
        self._recent[key] = None
        if len(self._recent) > RECENT_ALERTS_REMEMBERED:
            self._recent.popitem(last=False)
        return [build_alert(readings, now_ms())]

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to the workers without the (per-process) memory of recent alerts.
        return {"stage_names": self.stage_names}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["stage_names"])


def alert_line(alert: dict[str, Any]) -> str:
    """An alert as one JSONL line (no newline), keys in a stable order."""
    return json.dumps(alert, ensure_ascii=False, sort_keys=True)


def console_line(alert: dict[str, Any]) -> str:
    """A one-line, human-readable form of an alert for the console."""
    return (
        f"ALERT region {alert['region']}: {path_text(alert['path'])}  "
        f"({iso_utc(alert['first_ts'])} .. {iso_utc(alert['last_ts'])}, id {alert['alert_id'][:12]})"
    )
