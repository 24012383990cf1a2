"""A self-contained HTML heat map of the sensor network: latest temperature per sensor, burning nodes,
alerted fire paths.

The page needs nothing from the network (no CDN, map tiles or web fonts): the data is embedded as JSON
and drawn by a small inline script into one SVG panel per region, with a region selector, a colour
legend and a table of the alerted paths. Sensors are placed by projecting lat/lon onto each panel
(equirectangular, scaled by cos(latitude), north up). The script writes what it drew into the page
(``#count-sensors``, ``#count-burning``, ``#count-paths``, and ``data-rendered`` on ``<body>``), so a
headless browser test can check the drawing against the input.

Input is streamed: only the latest reading per node is kept (a few numbers per sensor), so 1M readings
of 100 regions × 100 sensors need memory for 10,000 sensors, not for 1M dicts.

Command line: ``emberwatch-heatmap --events E.jsonl [F.jsonl ...] --alerts A.jsonl --out map.html``
(or ``python -m heatmap ...``); open ``map.html#region=<name>`` to start on one region.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "BURNING_COLOUR",
    "DEFAULT_THRESHOLD_C",
    "HeatmapSummary",
    "LatestReading",
    "colour_bins",
    "iter_jsonl",
    "latest_readings",
    "render_heatmap",
]

logger = logging.getLogger(__name__)

#: The page (HTML, CSS, script) next to this module; ``__TITLE__`` and ``__DATA__`` are filled in.
PAGE_TEMPLATE = "page.html"
DEFAULT_THRESHOLD_C = 50.0
DEFAULT_TITLE = "Emberwatch: bushfire heat map"
#: Fill of a sensor whose latest reading is at or above the threshold.
BURNING_COLOUR = "#d7191c"
#: Colours below the threshold, coolest first, one per band of `BAND_WIDTH_C` below it.
COOL_COLOURS = ("#2c7bb6", "#abd9e9", "#ffffbf", "#fdae61")
BAND_WIDTH_C = 10.0


class LatestReading(NamedTuple):
    """The newest reading of one sensor (a tuple: 10,000 of them stay small)."""

    region: str
    node: str
    ts: int
    temperature: float
    lat: float
    lon: float


@dataclass(frozen=True)
class HeatmapSummary:
    """What the page shows, as computed from the input (the page recomputes it from what it drew)."""

    regions: int
    sensors: int
    burning: int
    alert_paths: int
    events_read: int
    events_skipped: int
    alerts_skipped: int = 0


def colour_bins(threshold: float = DEFAULT_THRESHOLD_C) -> list[dict[str, Any]]:
    """Legend bands, ascending: ``{"min": °C or None, "colour", "label"}``; the last one is burning."""
    bins: list[dict[str, Any]] = []
    lowest = threshold - BAND_WIDTH_C * (len(COOL_COLOURS) - 1)
    for number, colour in enumerate(COOL_COLOURS):
        low = None if number == 0 else lowest + BAND_WIDTH_C * (number - 1)
        high = lowest + BAND_WIDTH_C * number
        label = f"< {high:g} °C" if low is None else f"{low:g}–{high:g} °C"
        bins.append({"min": low, "colour": colour, "label": label})
    bins.append({"min": threshold, "colour": BURNING_COLOUR, "label": f"≥ {threshold:g} °C (burning)"})
    return bins


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield one dict per JSON line of `path`, one at a time; other lines (not JSON, not an object,
    bytes that are not UTF-8) are skipped and counted in one warning per file."""
    skipped = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            if isinstance(value, dict):
                yield value
            else:
                skipped += 1
    if skipped:
        logger.warning("%s: %d lines are not JSON objects; skipped", path, skipped)


def latest_readings(
    events: Iterable[Mapping[str, Any]],
) -> tuple[dict[tuple[str, str], LatestReading], int, int]:
    """Reduce a stream of readings to the newest one per (region, node).

    Returns ``(latest, read, skipped)``; a reading that lacks a field, has a non-numeric one, or whose
    region or node is not a string is skipped and counted. On equal timestamps the later reading in
    the stream wins.
    """
    latest: dict[tuple[str, str], LatestReading] = {}
    read = skipped = 0
    for event in events:
        read += 1
        region, node = event.get("region"), event.get("node")
        if not isinstance(region, str) or not isinstance(node, str):
            skipped += 1  # e.g. a simulated invalid record with region null: not a sensor to draw
            continue
        try:
            reading = LatestReading(
                region=region,
                node=node,
                ts=int(event["ts"]),
                temperature=float(event["temperature"]),
                lat=float(event["lat"]),
                lon=float(event["lon"]),
            )
        except (KeyError, TypeError, ValueError):
            skipped += 1
            continue
        key = (reading.region, reading.node)
        known = latest.get(key)
        if known is None or reading.ts >= known.ts:
            latest[key] = reading
    if skipped:
        logger.warning("heat map: %d of %d readings skipped (missing or non-numeric fields)", skipped, read)
    return latest, read, skipped


def render_heatmap(
    events: Iterable[Mapping[str, Any]],
    alerts: Iterable[Mapping[str, Any]],
    path: str | Path,
    title: str = DEFAULT_TITLE,
    threshold: float = DEFAULT_THRESHOLD_C,
) -> HeatmapSummary:
    """Write the heat-map page to `path` and return what it shows.

    Parameters
    ----------
    events : readings (docs/simulator.md, "Event schema"), any order; streamed once (a generator is fine).
    alerts : alerts (docs/job.md, "Outputs"); each is drawn as arrows N1 → … → Nk in its region's panel
        (an alert without region, path or times is skipped and counted).
    path : the HTML file to write.
    title : page heading.
    threshold : °C from which a sensor counts as burning (highlighted, hot colour).
    """
    latest, read, skipped = latest_readings(events)
    alert_rows: list[dict[str, Any]] = []
    alerts_skipped = 0
    for alert in alerts:
        try:
            alert_rows.append(_alert_row(alert))
        except (KeyError, TypeError, ValueError):
            alerts_skipped += 1
    if alerts_skipped:
        logger.warning("heat map: %d alerts skipped (missing region, path or times)", alerts_skipped)
    regions: dict[str, dict[str, Any]] = {}
    for reading in latest.values():
        region = regions.setdefault(reading.region, {"nodes": [], "alerts": []})
        region["nodes"].append([reading.node, reading.lat, reading.lon, reading.temperature, reading.ts])
    for row in alert_rows:
        regions.setdefault(row["region"], {"nodes": [], "alerts": []})["alerts"].append(row)
    for region in regions.values():
        region["nodes"].sort(key=lambda node: node[0])
    data = {"threshold": threshold, "bins": colour_bins(threshold), "regions": regions}
    template = resources.files("heatmap").joinpath(PAGE_TEMPLATE).read_text(encoding="utf-8")
    page = template.replace("__TITLE__", html.escape(title)).replace("__DATA__", _script_safe_json(data))
    Path(path).write_text(page, encoding="utf-8")
    burning = sum(1 for reading in latest.values() if reading.temperature >= threshold)
    summary = HeatmapSummary(
        len(regions), len(latest), burning, len(alert_rows), read, skipped, alerts_skipped
    )
    logger.info("heat map written to %s: %s", path, summary)
    return summary


def _alert_row(alert: Mapping[str, Any]) -> dict[str, Any]:
    readings = alert.get("readings") or []
    return {
        "id": str(alert.get("alert_id", "")),
        "region": str(alert["region"]),
        "path": [str(node) for node in alert["path"]],
        "first_ts": int(alert["first_ts"]),
        "last_ts": int(alert["last_ts"]),
        "max_temperature": max((float(r["temperature"]) for r in readings), default=None),
        # where each node was when it reported, in case the node has no reading in `events`
        "positions": {str(r["node"]): [float(r["lat"]), float(r["lon"])] for r in readings},
    }


def _script_safe_json(data: Any) -> str:
    """JSON that cannot end the surrounding <script> element early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def main(argv: Sequence[str] | None = None) -> int:
    """``emberwatch-heatmap --events E.jsonl [F.jsonl ...] [--alerts A.jsonl] --out map.html``."""
    parser = argparse.ArgumentParser(description="Write the Emberwatch heat-map page from JSONL files.")
    parser.add_argument(
        "--events", required=True, nargs="+", help="readings, one JSON object per line (one or more files)"
    )
    parser.add_argument("--alerts", help="alerts, one JSON object per line (the job's --alerts-out)")
    parser.add_argument("--out", required=True, help="HTML file to write")
    parser.add_argument("--title", default=DEFAULT_TITLE)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD_C)
    args = parser.parse_args(argv)
    alerts = list(iter_jsonl(args.alerts)) if args.alerts else []
    events = (event for path in args.events for event in iter_jsonl(path))
    summary = render_heatmap(events, alerts, args.out, args.title, args.threshold)
    print(
        f"{args.out}: {summary.regions} regions, {summary.sensors} sensors, {summary.burning} burning, "
        f"{summary.alert_paths} alert paths "
        f"({summary.events_read} readings, {summary.events_skipped} skipped)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
