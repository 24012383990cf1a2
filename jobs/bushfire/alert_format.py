"""Turn an alert (docs/job.md, "Outputs") into what people and machines read: subject, text, JSON, severity.

Kept apart from the SNS publisher so the same wording can serve any sink (SNS, a log line, a test),
and so it can be unit-tested without a network.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "JSON_MARKER",
    "SUBJECT_MAX_CHARS",
    "Severity",
    "alert_json",
    "format_subject",
    "format_text",
    "iso_utc",
    "safe_sns_id",
    "severity_of",
]

#: SNS rejects a Subject longer than 100 characters.
SUBJECT_MAX_CHARS = 100
#: Line that separates the readable text from the JSON form in the e-mail/default message.
JSON_MARKER = "-- alert JSON --"
#: SNS MessageGroupId / MessageDeduplicationId: at most 128 characters, letters, digits, punctuation.
SNS_ID_MAX_CHARS = 128
_SNS_ID_ALLOWED = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]+$")

#: Severity thresholds (°C on the hottest reading of the path; number of nodes on the path).
CRITICAL_TEMPERATURE_C = 90.0
HIGH_TEMPERATURE_C = 70.0
CRITICAL_PATH_NODES = 8
HIGH_PATH_NODES = 6


class Severity(str, enum.Enum):
    """How urgent an alert is; sent as the `severity` message attribute so subscribers can filter.

    The rule (documented in docs/job.md): ``critical`` when the hottest reading on the path is at
    least 90 °C or the path has 8+ nodes; ``high`` from 70 °C or 6+ nodes; otherwise ``warning``
    (every alert already means 5 linked sensors at or above the 50 °C threshold).
    """

    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"
    WATCH = "watch"  # only from a --rules rule (docs/rules.md)
    EMERGENCY = "emergency"  # only from a --rules rule


def severity_of(alert: Mapping[str, Any]) -> Severity:
    """The rule's severity when a ``--rules`` rule raised the alert, else derived from the hottest
    reading and the path length (see `Severity`)."""
    if alert.get("severity"):
        return Severity(alert["severity"])
    hottest = max_temperature(alert)
    nodes = len(alert["path"])
    if (hottest is not None and hottest >= CRITICAL_TEMPERATURE_C) or nodes >= CRITICAL_PATH_NODES:
        return Severity.CRITICAL
    if (hottest is not None and hottest >= HIGH_TEMPERATURE_C) or nodes >= HIGH_PATH_NODES:
        return Severity.HIGH
    return Severity.WARNING


def max_temperature(alert: Mapping[str, Any]) -> float | None:
    """The hottest reading of the alert, or None when it carries no readings."""
    temps = [float(r["temperature"]) for r in alert.get("readings") or ()]
    return max(temps) if temps else None


def iso_utc(ts_ms: int | float) -> str:
    """Epoch milliseconds as an ISO 8601 UTC time with milliseconds, e.g. ``2026-11-23T10:04:00.000Z``."""
    moment = datetime.fromtimestamp(ts_ms / 1000.0, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def path_text(path: Sequence[str], arrow: str = " → ") -> str:
    """``N1 → N2 → … → Nk``."""
    return arrow.join(str(node) for node in path)


def format_subject(alert: Mapping[str, Any], severity: Severity) -> str:
    """A one-line subject of at most `SUBJECT_MAX_CHARS` characters.

    ASCII arrows keep the subject readable in every mail client; a path that does not fit is cut
    with ``...`` (the body always names the whole path).
    """
    head = f"Bushfire alert [{severity.value.upper()}] region {alert['region']}: "
    subject = head + path_text(alert["path"], arrow=" -> ")
    subject = " ".join(subject.split())  # SNS refuses line breaks and control characters
    if len(subject) > SUBJECT_MAX_CHARS:
        subject = subject[: SUBJECT_MAX_CHARS - 3].rstrip() + "..."
    return subject


def format_text(alert: Mapping[str, Any], severity: Severity) -> str:
    """The readable body: what burns where, along which path, when (UTC), how hot."""
    path = list(alert["path"])
    first_ts, last_ts = int(alert["first_ts"]), int(alert["last_ts"])
    spread_s = (last_ts - first_ts) / 1000.0
    lines = [
        f"Potential bushfire in region {alert['region']} (severity: {severity.value}).",
        *([f"Rule: {alert['rule_id']}"] if alert.get("rule_id") else []),
        "",
        f"Fire path ({len(path)} sensors): {path_text(path)}",
        f"First reading: {iso_utc(first_ts)}",
        f"Last reading:  {iso_utc(last_ts)}  (spread over {spread_s:g} s)",
    ]
    if alert.get("detected_at") is not None:
        lines.append(f"Detected at:   {iso_utc(int(alert['detected_at']))}")
    readings = alert.get("readings") or []
    if readings:
        header = f"  {'#':>2}  {'node':<14} {'time (UTC)':<25} {'temp °C':>8}  location (lat, lon)"
        lines += ["", "Readings:", header]
        for number, reading in enumerate(readings, start=1):
            when = iso_utc(int(reading["ts"]))
            temperature = float(reading["temperature"])
            where = f"{float(reading['lat']):.5f}, {float(reading['lon']):.5f}"
            lines.append(f"  {number:>2}  {reading['node']!s:<14} {when:<25} {temperature:>8.1f}  {where}")
    lines += ["", f"Alert id: {alert.get('alert_id', '')}"]
    return "\n".join(lines)


def alert_json(alert: Mapping[str, Any], **extra: Any) -> str:
    """The alert as compact JSON (sorted keys, UTF-8 kept), plus any `extra` fields."""
    return json.dumps({**alert, **extra}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def safe_sns_id(value: str) -> str:
    """`value` when SNS accepts it as a MessageGroupId / MessageDeduplicationId, else its SHA-256 hex.

    The hash keeps the id deterministic (a re-sent alert still deduplicates) while meeting SNS's
    128-character, printable-ASCII rule.
    """
    if value and len(value) <= SNS_ID_MAX_CHARS and _SNS_ID_ALLOWED.match(value):
        return value
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
