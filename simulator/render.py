"""A picture of a run: the network and the fire spreading over it, as one self-contained HTML page.

Inline SVG (one panel per region, nodes placed by lat/lon, radio links in grey), and a few lines of
inline JavaScript: a time slider and a play button recolour the nodes (unburnt, burning, burnt out)
and draw the infection links that exist at that step. No external scripts, styles or fonts: the page
works offline.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from pathlib import Path

import orjson

from simulator.simulation import Simulation
from simulator.truth import find_paths

PANEL = 220  # px per region panel
MAX_LISTED_PATHS = 500
PAD = 14

_STYLE = """
body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 4px} .meta{color:#555;margin-bottom:8px}
.controls{position:sticky;top:0;background:#fafafa;padding:6px 0;z-index:1}
.controls input[type=range]{width:420px;vertical-align:middle}
.panels{display:flex;flex-wrap:wrap;gap:8px}
.panel{background:#fff;border:1px solid #ddd}
.panel text{font-size:11px;fill:#444}
line.link{stroke:#d5d5d5;stroke-width:1}
line.inf{stroke:#c0392b;stroke-width:1.5;marker-end:url(#arrow);display:none}
line.inf.on{display:inline}
circle{stroke:#555;stroke-width:.6;fill:#9bc59d}
circle.burning{fill:#e74c3c}
circle.ignition.burning{fill:#f39c12}
circle.burnt{fill:#5d4037}
circle.picked{stroke:#1e88e5;stroke-width:3}
line.inf.picked{stroke:#1e88e5;stroke-width:3}
h2{font-size:15px;margin:14px 0 4px} #paths{columns:3;font-size:12px;cursor:pointer}
#paths li.picked{color:#1e88e5;font-weight:bold}
.legend{display:block;margin-top:4px}
.legend span{display:inline-block;width:10px;height:10px;border-radius:5px;margin:0 4px 0 12px}
"""

_SCRIPT = """
(function(){
  const d = JSON.parse(document.getElementById('fire-data').textContent);
  const slider = document.getElementById('step'), label = document.getElementById('clock');
  const circles = Array.from(document.querySelectorAll('circle[data-node]'));
  const links = Array.from(document.querySelectorAll('line.inf'));
  function show(step){
    slider.value = step;
    const t = new Date(d.start_ms + step * d.interval_ms);
    label.textContent = 'step ' + step + ' \\u2014 ' + t.toISOString().replace('.000Z', 'Z');
    let burning = 0, burnt = 0;
    for (const c of circles){
      const s = c.dataset.step === '' ? null : Number(c.dataset.step);
      const on = s !== null && step >= s;
      const out = on && d.burn !== null && step - s >= d.burn;
      c.classList.toggle('burning', on && !out); c.classList.toggle('burnt', out);
      if (on && !out) burning++; if (out) burnt++;
    }
    for (const l of links) l.classList.toggle('on', step >= Number(l.dataset.step));
    document.getElementById('counts').textContent = burning + ' burning, ' + burnt + ' burnt out';
  }
  slider.addEventListener('input', () => show(Number(slider.value)));
  let timer = null;
  document.getElementById('play').addEventListener('click', (ev) => {
    if (timer){ clearInterval(timer); timer = null; ev.target.textContent = 'play'; return; }
    ev.target.textContent = 'pause';
    timer = setInterval(() => {
      const next = Number(slider.value) + 1;
      if (next >= d.steps){ clearInterval(timer); timer = null; ev.target.textContent = 'play'; return; }
      show(next);
    }, 250);
  });
  const list = document.getElementById('paths');
  d.paths.forEach((p) => {
    const li = document.createElement('li'); li.textContent = p.join(' \u2192 '); li.tabIndex = 0;
    li.addEventListener('click', () => {
      const on = !li.classList.contains('picked');
      document.querySelectorAll('.picked').forEach((el) => el.classList.remove('picked'));
      if (!on) return;
      li.classList.add('picked');
      const nodes = new Set(p), pairs = new Set(p.slice(1).map((n, i) => p[i] + '>' + n));
      for (const c of circles) if (nodes.has(c.dataset.node)) c.classList.add('picked');
      for (const l of links) if (pairs.has(l.dataset.link)) l.classList.add('picked');
    });
    list.appendChild(li);
  });
  show(Number(slider.value));
})();
"""


def _pick_regions(sim: Simulation, max_regions: int) -> list[str]:
    """The regions to draw: those with the most infected nodes first, then in id order."""
    burnt: dict[str, int] = {}
    for nid in sim.infections:
        region = sim.network.by_id[nid].region
        burnt[region] = burnt.get(region, 0) + 1
    ranked = sorted(sim.network.regions, key=lambda r: (-burnt.get(r, 0), r))[:max_regions]
    return sorted(ranked)


def _panel(sim: Simulation, region: str) -> str:
    net = sim.network
    ids = net.regions[region]
    lats = [net.by_id[n].lat for n in ids]
    lons = [net.by_id[n].lon for n in ids]
    coslat = math.cos(math.radians(sum(lats) / len(lats)))
    span = max(max(lats) - min(lats), (max(lons) - min(lons)) * coslat, 1e-9)
    inner = PANEL - 2 * PAD
    radius = max(2.5, min(7.0, inner / (4.0 * math.sqrt(len(ids)))))

    def xy(nid: str) -> tuple[float, float]:
        node = net.by_id[nid]
        x = PAD + (node.lon - min(lons)) * coslat / span * inner
        y = PAD + (max(lats) - node.lat) / span * inner
        return round(x, 1), round(y, 1)

    pos = {n: xy(n) for n in ids}
    name = html.escape(region)
    parts = [f'<svg class="panel" width="{PANEL}" height="{PANEL + 14}" role="img" '
             f'aria-label="region {name}"><text x="4" y="{PANEL + 10}">{name}</text>']
    for a, b in net.edges:
        if a in pos and b in pos:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            parts.append(f'<line class="link" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>')
    for nid in ids:
        inf = sim.infections.get(nid)
        if inf is not None and not inf.is_ignition and inf.infected_by in pos:
            (x1, y1), (x2, y2) = pos[inf.infected_by], pos[nid]
            # stop the arrow at the target circle's edge
            length = math.hypot(x2 - x1, y2 - y1) or 1.0
            x2e, y2e = x2 - (x2 - x1) / length * radius, y2 - (y2 - y1) / length * radius
            link = html.escape(f"{inf.infected_by}>{nid}")  # matched by the path list's script
            parts.append(f'<line class="inf" data-step="{inf.step}" data-link="{link}" x1="{x1}" y1="{y1}" '
                         f'x2="{x2e:.1f}" y2="{y2e:.1f}"/>')
    for nid in ids:
        inf = sim.infections.get(nid)
        x, y = pos[nid]
        cls = ' class="ignition"' if inf is not None and inf.is_ignition else ""
        step = "" if inf is None else inf.step
        by = "" if inf is None else f", infected by {inf.infected_by} at step {inf.step}"
        parts.append(f'<circle{cls} data-node="{html.escape(nid)}" data-step="{step}" cx="{x}" cy="{y}" '
                     f'r="{radius:.1f}"><title>{html.escape(nid + by)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(
    sim: Simulation,
    path: str | Path,
    max_regions: int = 16,
    title: str | None = None,
    paths: set | None = None,
) -> Path:
    """Write the page for `sim` to `path` (at most `max_regions` panels, the fieriest first).

    `paths` (default: the fire's 5-node paths, `find_paths` over `hot_events()`) are listed under
    the panels shown; clicking one highlights it.
    """
    cfg = sim.config
    regions = _pick_regions(sim, max_regions)
    if paths is None:
        paths = find_paths(sim.hot_events())
    shown_paths = [list(p) for r, p in sorted(paths) if r in set(regions)]
    data = {"steps": cfg.steps, "start_ms": cfg.start_ms, "interval_ms": cfg.interval_ms,
            "burn": cfg.fire.burn_minutes, "paths": shown_paths[:MAX_LISTED_PATHS]}
    start = datetime.fromtimestamp(cfg.start_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    heading = title or "Emberwatch simulation"
    shown = f"{len(regions)} of {len(sim.network.regions)} regions shown" if len(regions) < len(
        sim.network.regions) else f"{len(regions)} regions"
    meta = (f"{len(sim.network)} sensors, {shown}; {cfg.steps} steps of {cfg.interval_ms // 1000} s from "
            f"{start}; seed {cfg.seed}; {len(sim.infections)} nodes caught fire, "
            f"{len(sim.branch_points)} branch points")
    arrow = ('<svg width="0" height="0" style="position:absolute"><defs>'
             '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="4" markerHeight="4" '
             'orient="auto-start-reverse">'
             '<path d="M0,0L10,5L0,10z" fill="#c0392b"/></marker></defs></svg>')
    listed = f", first {MAX_LISTED_PATHS} listed" if len(shown_paths) > MAX_LISTED_PATHS else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(heading)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{html.escape(heading)}</h1>
<div class="meta">{html.escape(meta)}</div>
<div class="controls"><button id="play" type="button">play</button>
<input id="step" type="range" min="0" max="{max(cfg.steps - 1, 0)}" value="{max(cfg.steps - 1, 0)}">
<span id="clock"></span> &middot; <span id="counts"></span>
<span class="legend"><span style="background:#9bc59d"></span>unburnt
<span style="background:#f39c12"></span>ignition
<span style="background:#e74c3c"></span>burning<span style="background:#5d4037"></span>burnt out
<span style="background:#c0392b;border-radius:0;height:3px"></span>infected by</span></div>
{arrow}
<div class="panels">{"".join(_panel(sim, r) for r in regions)}</div>
<h2>Alerted paths in these regions ({len(shown_paths)}{listed})</h2>
<ol id="paths"></ol>
<script type="application/json" id="fire-data">{orjson.dumps(data).decode()}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
