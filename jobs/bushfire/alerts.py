"""Alerts (docs/job.md, "Outputs"): built from a match, identified by region + path, one per path.

An alert's id depends only on the region and the node path, so the same path found again (a burning
node keeps reporting, or the job replays input after a restart) has the same id and is recognised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from jobs.bushfire.alert_format import iso_utc, path_text

READING_KEYS = ("node", "ts", "temperature", "lat", "lon")


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


def alert_line(alert: dict[str, Any]) -> str:
    """An alert as one JSONL line (no newline), keys in a stable order."""
    return json.dumps(alert, ensure_ascii=False, sort_keys=True)


def console_line(alert: dict[str, Any]) -> str:
    """A one-line, human-readable form of an alert for the console."""
    return (
        f"ALERT region {alert['region']}: {path_text(alert['path'])}  "
        f"({iso_utc(alert['first_ts'])} .. {iso_utc(alert['last_ts'])}, id {alert['alert_id'][:12]})"
    )
