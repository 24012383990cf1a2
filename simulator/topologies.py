"""Network layouts: grids, random geometric graphs, a JSON file, and the original article's 11 sensors.

Topology file format (JSON, UTF-8)::

    {"nodes": [{"id": "a1", "region": "north", "lat": -33.7, "lon": 150.3}, ...],
     "edges": [["a1", "a2"], ...]}

`id` strings are unique across the file; `region` defaults to `"r000"`; `edges` are undirected radio
links between two nodes of the same region. `Network.to_dict()` writes this form.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import orjson

from simulator.config import TopologyConfig, TopologyKind
from simulator.network import Network, NetworkError, Node

_M_PER_DEG_LAT = 111_320.0


def region_id(index: int, regions: int) -> str:
    """`r007`-style region ids, wide enough for the region count."""
    return f"r{index:0{max(3, len(str(regions - 1)))}d}"


def node_id(region: str, index: int, nodes_per_region: int) -> str:
    """`r007-n042`-style node ids, unique across the network."""
    return f"{region}-n{index:0{max(3, len(str(nodes_per_region - 1)))}d}"


def build_network(cfg: TopologyConfig, seed: int = 0) -> Network:
    """Build the network a `TopologyConfig` describes (random layouts use `seed`)."""
    if cfg.kind == TopologyKind.GRID:
        return grid(cfg)
    if cfg.kind == TopologyKind.RANDOM:
        return random_geometric(cfg, seed)
    if cfg.kind == TopologyKind.FILE:
        if not cfg.file:
            raise NetworkError("topology 'file' needs a file path (--topology-file)")
        return load_topology_file(cfg.file)
    if cfg.kind == TopologyKind.BLOG_11:
        return blog_11(cfg)
    raise NetworkError(f"unknown topology kind {cfg.kind!r}")


class _Placer:
    """Turns (region index, x metres, y metres) into lat/lon, with regions tiled on a square grid."""

    def __init__(self, cfg: TopologyConfig, region_side_m: float) -> None:
        self.cfg = cfg
        self.per_row = max(1, math.ceil(math.sqrt(cfg.regions)))
        self.side = region_side_m
        self.m_per_deg_lon = _M_PER_DEG_LAT * math.cos(math.radians(cfg.origin_lat))

    def latlon(self, region_index: int, x_m: float, y_m: float) -> tuple[float, float]:
        row, col = divmod(region_index, self.per_row)
        north_m = -(row * self.side + y_m)  # rows go south from the origin
        east_m = col * self.side + x_m
        lat = self.cfg.origin_lat + north_m / _M_PER_DEG_LAT
        lon = self.cfg.origin_lon + east_m / self.m_per_deg_lon
        return round(lat, 6), round(lon, 6)


def grid(cfg: TopologyConfig) -> Network:
    """Each region: `nodes_per_region` sensors on a grid `grid_cols` wide, linked to 4 neighbours."""
    n = cfg.nodes_per_region
    if n < 1 or cfg.regions < 1:
        raise NetworkError("a grid needs at least one region and one node per region")
    cols = cfg.grid_cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    placer = _Placer(cfg, cfg.spacing_m * (max(rows, cols) + 1))
    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    for r in range(cfg.regions):
        region = region_id(r, cfg.regions)
        ids = [node_id(region, i, n) for i in range(n)]
        for i, nid in enumerate(ids):
            row, col = divmod(i, cols)
            lat, lon = placer.latlon(r, (col + 0.5) * cfg.spacing_m, (row + 0.5) * cfg.spacing_m)
            nodes.append(Node(nid, region, lat, lon))
            if col + 1 < cols and i + 1 < n:
                edges.append((nid, ids[i + 1]))
            if i + cols < n:
                edges.append((nid, ids[i + cols]))
    return Network(nodes, edges)


def default_radius(n: int) -> float:
    """A link radius (unit square) that makes a random geometric graph of n nodes connected w.h.p."""
    return min(1.5, 1.4 * math.sqrt(math.log(max(n, 2)) / (math.pi * max(n, 2))))


def random_geometric(cfg: TopologyConfig, seed: int) -> Network:
    """Each region: sensors uniform in a square, linked when closer than `radius` (of the side)."""
    n = cfg.nodes_per_region
    rng = random.Random(f"topology-{seed}")
    radius = cfg.radius if cfg.radius is not None else default_radius(n)
    side_m = cfg.spacing_m * (math.ceil(math.sqrt(n)) + 1)
    placer = _Placer(cfg, side_m)
    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    for r in range(cfg.regions):
        region = region_id(r, cfg.regions)
        points = [(rng.random(), rng.random()) for _ in range(n)]
        ids = [node_id(region, i, n) for i in range(n)]
        for nid, (x, y) in zip(ids, points):
            lat, lon = placer.latlon(r, x * side_m, y * side_m)
            nodes.append(Node(nid, region, lat, lon))
        for i in range(n):
            xi, yi = points[i]
            for j in range(i + 1, n):
                xj, yj = points[j]
                if (xi - xj) ** 2 + (yi - yj) ** 2 < radius * radius:
                    edges.append((ids[i], ids[j]))
    return Network(nodes, edges)


def load_topology_file(path: str | Path) -> Network:
    """Read a topology file (format in the module docstring); errors say which entry is wrong."""
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise NetworkError(f"cannot read topology file {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise NetworkError(f"{path}: expected an object with a 'nodes' list and an 'edges' list")
    nodes = []
    for i, raw in enumerate(doc["nodes"]):
        try:
            nodes.append(Node(str(raw["id"]), str(raw.get("region", "r000")), float(raw["lat"]),
                              float(raw["lon"])))
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{path}: nodes[{i}] needs id, lat, lon (and optionally region): {exc}"
            raise NetworkError(msg) from exc
    edges = []
    for i, raw in enumerate(doc.get("edges", [])):
        if not (isinstance(raw, list) and len(raw) == 2):
            raise NetworkError(f"{path}: edges[{i}] must be a pair of node ids, got {raw!r}")
        edges.append((str(raw[0]), str(raw[1])))
    return Network(nodes, edges)


# The article's figure shows 11 sensors in a mesh; this layout keeps its story: the fire runs along
# 1-2-3-4-5 while 6-11 sit beside that chain and never burn. Positions are in grid-spacing units.
_BLOG_POSITIONS = {
    "1": (0, 1), "2": (1, 1), "3": (2, 1), "4": (3, 1), "5": (4, 1),
    "6": (0, 0), "7": (1.5, 0), "8": (3, 0), "9": (0.5, 2), "10": (2.5, 2), "11": (4, 2),
}
_BLOG_EDGES = (
    ("1", "2"), ("2", "3"), ("3", "4"), ("4", "5"),
    ("1", "6"), ("6", "7"), ("2", "7"), ("7", "8"), ("3", "8"), ("8", "5"),
    ("1", "9"), ("9", "2"), ("9", "10"), ("3", "10"), ("10", "4"), ("10", "11"), ("5", "11"),
)


def blog_11(cfg: TopologyConfig) -> Network:
    """The 11-sensor network of the original article, ids "1".."11" in region "blog"."""
    placer = _Placer(cfg, cfg.spacing_m * 6)
    nodes = []
    for nid, (x, y) in _BLOG_POSITIONS.items():
        lat, lon = placer.latlon(0, (x + 0.5) * cfg.spacing_m, (y + 0.5) * cfg.spacing_m)
        nodes.append(Node(nid, "blog", lat, lon))
    return Network(nodes, _BLOG_EDGES)
