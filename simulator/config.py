"""Simulation settings: one frozen dataclass per concern, composed into `SimulationConfig`.

The command line, its environment variables and config file are declared in `simulator.options`;
nothing below it reads `os.environ`.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

DEFAULT_THRESHOLD_C = 50.0
DEFAULT_CHAIN_LENGTH = 5
DEFAULT_WINDOW_MS = 600_000
DEFAULT_INTERVAL_MS = 60_000
# 2026-01-15T00:00:00Z: an Australian summer day, so the diurnal cycle has something to show.
DEFAULT_START_MS = 1_768_435_200_000


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


class TopologyKind(str, enum.Enum):
    """How the sensors of each region are laid out and linked."""

    GRID = "grid"
    RANDOM = "random"
    FILE = "file"
    BLOG_11 = "blog-11"


@dataclass(frozen=True)
class TopologyConfig:
    """The sensor network's shape.

    `grid`: each region is a `grid_cols`-wide grid (4-neighbour links), filled row by row.
    `random`: a random geometric graph per region (nodes uniform in the unit square, linked when
    closer than `radius`, in units of the region's side). `file`: read from `file` (see topologies).
    """

    kind: TopologyKind = TopologyKind.GRID
    regions: int = 1
    nodes_per_region: int = 100
    grid_cols: int | None = None  # default: ceil(sqrt(nodes_per_region))
    radius: float | None = None  # default: ~1.5x the connectivity radius for the node count
    file: str | None = None
    spacing_m: float = 250.0  # distance between grid neighbours
    origin_lat: float = -33.70  # the Blue Mountains, west of Sydney
    origin_lon: float = 150.30


@dataclass(frozen=True)
class FireConfig:
    """The SI spread process.

    `ignitions_per_region` is the expected number of random ignitions per region over the run
    (Poisson), at uniform steps before `ignition_horizon` (a fraction of the run). `ignition_points`
    adds fixed ignitions `(node_id, step)`. `scripted` fixes infections `(node, infected_by, step)`
    exactly; with `random_spread=False` nothing else spreads. A burning node infects each susceptible
    neighbour with `spread_probability` per step (scaled by the wind), for `burn_minutes` steps
    (None: until the end); then it cools below the threshold but stays infected.
    """

    ignitions_per_region: float = 0.35
    ignition_horizon: float = 0.9
    ignition_points: tuple[tuple[str, int], ...] = ()
    scripted: tuple[tuple[str, str, int], ...] = ()
    random_spread: bool = True
    spread_probability: float = 0.1
    wind_direction_deg: float | None = None  # compass bearing the wind blows towards (0 = north)
    wind_bias: float = 0.0  # 0: no effect; 1: downwind doubles, upwind stops
    burn_minutes: int | None = 10

    def __post_init__(self) -> None:
        _check_fraction("spread_probability", self.spread_probability)
        _check_fraction("wind_bias", self.wind_bias)
        _check_fraction("ignition_horizon", self.ignition_horizon)
        if self.ignitions_per_region < 0:
            raise ValueError(f"ignitions_per_region must be >= 0, got {self.ignitions_per_region}")
        if self.burn_minutes is not None and self.burn_minutes < 1:
            raise ValueError(f"burn_minutes must be >= 1 (or None: burn to the end), got {self.burn_minutes}")


@dataclass(frozen=True)
class TemperatureConfig:
    """Readings: ambient with a diurnal cycle and noise; burning nodes read above the threshold."""

    threshold_c: float = DEFAULT_THRESHOLD_C
    ambient_c: float = 24.0
    diurnal_amplitude_c: float = 7.0  # peak at 15:00 local solar time
    microclimate_c: float = 1.5  # per-sensor fixed offset (std dev)
    noise_c: float = 0.8  # per-reading noise (std dev)
    burning_c: float = 72.0  # mean reading while burning
    burning_noise_c: float = 9.0
    cooling_minutes: float = 8.0  # e-folding time of the cool-down after a node burns out


@dataclass(frozen=True)
class FaultConfig:
    """Delivery and sensor faults, each with a rate (0 disables it).

    Per-reading rates: `delay_rate` (arrives up to `max_delay_ms` late), `drop_rate`,
    `duplicate_rate` (sent twice, same event_id), `spike_rate` (a hot reading from a node that is not
    burning, infectedBy null), `malformed_rate` (garbled JSON, missing fields or wrong types instead
    of the reading). Per-sensor rates: `skew_rate` (clock off by up to `max_skew_ms`, either way),
    `stuck_rate` (from a random moment on, repeats its last temperature).
    """

    delay_rate: float = 0.0
    max_delay_ms: int = 30_000
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    skew_rate: float = 0.0
    max_skew_ms: int = 20_000
    stuck_rate: float = 0.0
    spike_rate: float = 0.0
    malformed_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("delay_rate", "drop_rate", "duplicate_rate", "skew_rate", "stuck_rate", "spike_rate",
                     "malformed_rate"):
            _check_fraction(name, getattr(self, name))
        if self.max_delay_ms < 1 or self.max_skew_ms < 1:
            raise ValueError("max_delay_ms and max_skew_ms must be at least 1")

    @property
    def any(self) -> bool:
        """True when at least one fault is switched on."""
        rates = (self.delay_rate, self.drop_rate, self.duplicate_rate, self.skew_rate, self.stuck_rate,
                 self.spike_rate, self.malformed_rate)
        return any(r > 0 for r in rates)


FAULT_NAMES = ("delay", "drop", "duplicate", "skew", "stuck", "spike", "malformed")


@dataclass(frozen=True)
class SimulationConfig:
    """Everything a run needs; `simulate(config)` is deterministic for a given config (seed included)."""

    topology: TopologyConfig = field(default_factory=TopologyConfig)
    fire: FireConfig = field(default_factory=FireConfig)
    temperature: TemperatureConfig = field(default_factory=TemperatureConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    minutes: int = 60  # number of reporting intervals
    interval_ms: int = DEFAULT_INTERVAL_MS
    start_ms: int = DEFAULT_START_MS
    seed: int = 0
    report_jitter: bool = True  # each sensor reports at its own fixed offset within the interval
    battery: bool = True  # include the optional `battery` field

    def __post_init__(self) -> None:
        if self.minutes < 1 or self.interval_ms < 1:
            msg = f"minutes and interval_ms must be at least 1, got {self.minutes} and {self.interval_ms}"
            raise ValueError(msg)
        if self.steps < 1:
            raise ValueError(f"a run of {self.minutes} min has no {self.interval_ms} ms interval in it")

    @property
    def steps(self) -> int:
        """Number of reporting intervals (every sensor reports once per interval)."""
        return self.minutes * 60_000 // self.interval_ms

    def replace(self, **changes: Any) -> SimulationConfig:
        """A copy with top-level fields changed (`cfg.replace(seed=3)`)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def benchmark(cls, seed: int = 2018) -> SimulationConfig:
        """The shared benchmark stream: 100 regions x 100 sensors on 10x10 grids, 100 minutes, 1M events.

        Tuned for about 2 % hot readings and on the order of a thousand distinct 5-node paths
        within a 10-minute window; no faults.
        """
        return cls(
            topology=TopologyConfig(kind=TopologyKind.GRID, regions=100, nodes_per_region=100, grid_cols=10),
            fire=BENCHMARK_FIRE,
            minutes=100,
            seed=seed,
        )

    @classmethod
    def blog_11(cls, seed: int = 0) -> SimulationConfig:
        """The original article's 11-sensor scenario: the fire goes 1 -> 2 -> 3 -> 4 -> 5, one step each.

        t1 (step 0): all below 50 C; t2: node 1 ignites; t3: node 2 (infected by 1); then 3, 4, 5.
        Nodes 6-11 never burn. Exactly one 5-node path exists: 1 -> 2 -> 3 -> 4 -> 5.
        """
        return cls(
            topology=TopologyConfig(kind=TopologyKind.BLOG_11, regions=1, nodes_per_region=11),
            fire=FireConfig(
                ignitions_per_region=0.0,
                ignition_points=(("1", 1),),
                scripted=(("2", "1", 2), ("3", "2", 3), ("4", "3", 4), ("5", "4", 5)),
                random_spread=False,
                burn_minutes=None,
            ),
            minutes=8,
            seed=seed,
        )

    @classmethod
    def preset(cls, name: str, seed: int | None = None) -> SimulationConfig:
        """A named preset: one of `PRESETS` (`blog-11`, `benchmark`, `demo`)."""
        try:
            factory = _PRESETS[name]
        except KeyError:
            msg = f"unknown preset {name!r}; choose one of {', '.join(sorted(_PRESETS))}"
            raise ValueError(msg) from None
        cfg = factory()
        return cfg if seed is None else cfg.replace(seed=seed)

    @classmethod
    def demo(cls, seed: int = 7) -> SimulationConfig:
        """A small faulty network for demos and job tests: 4 regions x 36 sensors, 30 minutes, all faults."""
        return cls(
            topology=TopologyConfig(kind=TopologyKind.GRID, regions=4, nodes_per_region=36, grid_cols=6),
            fire=FireConfig(ignitions_per_region=1.0, ignition_horizon=0.5, spread_probability=0.15,
                            burn_minutes=10, wind_direction_deg=45.0, wind_bias=0.5),
            faults=FaultConfig(delay_rate=0.05, drop_rate=0.01, duplicate_rate=0.01, skew_rate=0.02,
                               stuck_rate=0.02, spike_rate=0.005, malformed_rate=0.005),
            minutes=30,
            seed=seed,
        )


BENCHMARK_FIRE = FireConfig(ignitions_per_region=0.35, spread_probability=0.1, burn_minutes=10)

_PRESETS = {
    "blog-11": SimulationConfig.blog_11,
    "benchmark": SimulationConfig.benchmark,
    "demo": SimulationConfig.demo,
}
PRESETS = tuple(sorted(_PRESETS))
