"""Fire spread as an SI (susceptible-infected) process over the sensor graph.

Time advances in reporting steps. At each step, first the ignitions of that step happen (an
ignited node is infected by itself, as the original data had it), then every node that is burning
and was infected at an earlier step tries each susceptible neighbour once, with the spread
probability scaled by the wind; the first success wins. A node, once infected, stays infected and
its infector never changes; it burns for `burn_minutes` steps and then cools down.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from simulator.config import FireConfig
from simulator.network import Network, NetworkError


@dataclass(frozen=True)
class Infection:
    """A node caught fire at `step`, from `infected_by` (its own id for an ignition)."""

    node: str
    infected_by: str
    step: int

    @property
    def is_ignition(self) -> bool:
        return self.node == self.infected_by


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def wind_factor(bearing_deg: float, cfg: FireConfig) -> float:
    """Multiplier for the spread probability towards `bearing_deg`: 1 + bias * cos(angle to the wind)."""
    if cfg.wind_direction_deg is None or cfg.wind_bias == 0:
        return 1.0
    return max(0.0, 1.0 + cfg.wind_bias * math.cos(math.radians(bearing_deg - cfg.wind_direction_deg)))


def plan_ignitions(network: Network, cfg: FireConfig, steps: int, rng: random.Random) -> dict[int, list[str]]:
    """Step -> nodes that ignite at that step (random per region, plus the configured points)."""
    by_step: dict[int, list[str]] = {}
    horizon = max(1, int(steps * cfg.ignition_horizon))
    for region in network.regions:
        ids = network.regions[region]
        for _ in range(_poisson(rng, cfg.ignitions_per_region)):
            by_step.setdefault(rng.randrange(horizon), []).append(rng.choice(ids))
    for nid, step in cfg.ignition_points:
        if nid not in network.by_id:
            raise NetworkError(f"ignition point {nid!r} is not a node of the network")
        by_step.setdefault(step, []).append(nid)
    return by_step


def spread(network: Network, cfg: FireConfig, steps: int, seed: int) -> dict[str, Infection]:
    """Run the SI process for `steps` steps; returns node id -> its (only) infection."""
    rng = random.Random(f"fire-{seed}")
    ignitions = plan_ignitions(network, cfg, steps, rng)
    scripted: dict[int, list[tuple[str, str]]] = {}
    for nid, by, step in cfg.scripted:
        for end in (nid, by):
            if end not in network.by_id:
                raise NetworkError(f"scripted infection names unknown node {end!r}")
        scripted.setdefault(step, []).append((nid, by))
    windy = cfg.wind_direction_deg is not None and cfg.wind_bias != 0
    factors = {
        (a, b): wind_factor(network.bearing_deg(a, b), cfg)
        for a, nbrs in network.neighbours.items() for b in nbrs
    } if cfg.random_spread and windy else {}

    infections: dict[str, Infection] = {}
    burning: list[str] = []  # infected before the current step and not burnt out yet
    for step in range(steps):
        new: list[str] = []
        for nid in ignitions.get(step, ()):
            if nid not in infections:
                infections[nid] = Infection(nid, nid, step)
                new.append(nid)
        for nid, by in scripted.get(step, ()):
            if nid not in infections:
                infections[nid] = Infection(nid, by, step)
                new.append(nid)
        if cfg.random_spread:
            order = burning[:]
            rng.shuffle(order)
            for src in order:
                for dst in network.neighbours[src]:
                    if dst in infections:
                        continue
                    factor = factors[(src, dst)] if windy else 1.0
                    if rng.random() < cfg.spread_probability * factor:
                        infections[dst] = Infection(dst, src, step)
                        new.append(dst)
        burning = [
            n for n in burning
            if cfg.burn_minutes is None or step + 1 - infections[n].step < cfg.burn_minutes
        ]
        burning.extend(n for n in new if cfg.burn_minutes is None or cfg.burn_minutes > 1)
    return infections


def branch_points(infections: dict[str, Infection]) -> dict[str, list[str]]:
    """Nodes that infected two or more others, with the nodes they infected."""
    children: dict[str, list[str]] = {}
    for inf in infections.values():
        if not inf.is_ignition:
            children.setdefault(inf.infected_by, []).append(inf.node)
    return {node: kids for node, kids in children.items() if len(kids) >= 2}
