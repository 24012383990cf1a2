"""The heat-map tool: one self-contained HTML page of the sensor network, from readings and alerts.

A tool for people looking at a run (the demo, a local job), not part of the job: it reads the JSON
Lines the simulator and the job write, and is not shipped to the cluster. ``emberwatch-heatmap``
(or ``python -m heatmap``) is its command line; `render_heatmap` its Python entry.
"""

from __future__ import annotations

from heatmap.render import (
    BURNING_COLOUR,
    DEFAULT_THRESHOLD_C,
    HeatmapSummary,
    LatestReading,
    colour_bins,
    iter_jsonl,
    latest_readings,
    main,
    render_heatmap,
)

__all__ = [
    "BURNING_COLOUR",
    "DEFAULT_THRESHOLD_C",
    "HeatmapSummary",
    "LatestReading",
    "colour_bins",
    "iter_jsonl",
    "latest_readings",
    "main",
    "render_heatmap",
]
