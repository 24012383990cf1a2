"""``python -m heatmap``: the same as ``emberwatch-heatmap``."""

from __future__ import annotations

from heatmap.render import main

raise SystemExit(main())
