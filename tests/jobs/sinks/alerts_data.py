"""Alerts shaped like the job's alert records, for the sink tests."""

from __future__ import annotations

from typing import Any

BASE_TS = 1_790_000_000_000  # 2026-09-21T...Z; any fixed epoch-ms value


def make_alert(
    region: str = "r007",
    nodes: int = 5,
    hottest: float = 63.5,
    start_node: int = 1,
    alert_id: str | None = None,
) -> dict[str, Any]:
    """A valid alert for the path r007-n001 → … (one reading a minute, the last one `hottest`)."""
    path = [f"{region}-n{start_node + i:03d}" for i in range(nodes)]
    readings = [
        {
            "node": node,
            "ts": BASE_TS + i * 60_000,
            "temperature": hottest if i == nodes - 1 else 50.0 + i,
            "lat": -33.8 - i * 0.01,
            "lon": 151.2 + i * 0.01,
        }
        for i, node in enumerate(path)
    ]
    return {
        "alert_id": alert_id or f"{region}:{'>'.join(path)}",
        "region": region,
        "path": path,
        "first_ts": readings[0]["ts"],
        "last_ts": readings[-1]["ts"],
        "readings": readings,
        "detected_at": readings[-1]["ts"] + 5_000,
    }
