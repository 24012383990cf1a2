"""The sensor network: nodes (id, region, location) and the radio links between neighbours."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class NetworkError(ValueError):
    """The network description is inconsistent (unknown node, duplicate id, cross-region link...)."""


@dataclass(frozen=True)
class Node:
    """One sensor. `id` is unique across the whole network; fire spreads only within a region."""

    id: str
    region: str
    lat: float
    lon: float


class Network:
    """An undirected graph of sensors (a multi-hop wireless mesh), split into regions.

    Links join sensors of the same region only: the alerting job keys its stream by region, so a
    link across regions could never be seen as part of a propagation path.
    """

    def __init__(self, nodes: Sequence[Node], edges: Iterable[tuple[str, str]]) -> None:
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.by_id: dict[str, Node] = {}
        for node in self.nodes:
            if node.id in self.by_id:
                raise NetworkError(f"duplicate node id {node.id!r}: node ids must be unique")
            self.by_id[node.id] = node
        adjacency: dict[str, set[str]] = {node.id: set() for node in self.nodes}
        for a, b in edges:
            for end in (a, b):
                if end not in self.by_id:
                    raise NetworkError(f"link {a!r}-{b!r} names unknown node {end!r}")
            if a == b:
                raise NetworkError(f"link {a!r}-{b!r} joins a node to itself")
            if self.by_id[a].region != self.by_id[b].region:
                msg = (f"link {a!r}-{b!r} crosses regions {self.by_id[a].region!r} and "
                       f"{self.by_id[b].region!r}; links must stay inside one region")
                raise NetworkError(msg)
            adjacency[a].add(b)
            adjacency[b].add(a)
        order = {node.id: i for i, node in enumerate(self.nodes)}
        self.neighbours: dict[str, tuple[str, ...]] = {
            nid: tuple(sorted(adj, key=order.__getitem__)) for nid, adj in adjacency.items()
        }
        self.regions: dict[str, tuple[str, ...]] = {}
        for node in self.nodes:
            self.regions.setdefault(node.region, ())
            self.regions[node.region] += (node.id,)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Each link once, as (lower-index node, higher-index node) in node order."""
        order = {node.id: i for i, node in enumerate(self.nodes)}
        return [(a, b) for a, nbrs in self.neighbours.items() for b in nbrs if order[a] < order[b]]

    def __len__(self) -> int:
        return len(self.nodes)

    def bearing_deg(self, a: str, b: str) -> float:
        """Compass bearing from node a to node b (0 = north, 90 = east), flat-earth approximation."""
        na, nb = self.by_id[a], self.by_id[b]
        dy = nb.lat - na.lat
        dx = (nb.lon - na.lon) * math.cos(math.radians((na.lat + nb.lat) / 2))
        return math.degrees(math.atan2(dx, dy)) % 360.0

    def to_dict(self) -> dict:
        """The topology-file form of this network (see `topologies.load_topology_file`)."""
        return {
            "nodes": [{"id": n.id, "region": n.region, "lat": n.lat, "lon": n.lon} for n in self.nodes],
            "edges": [list(e) for e in self.edges],
        }
