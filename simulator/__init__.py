"""Emberwatch's IoT sensor-network simulator: topologies, SI fire spread, readings, faults, sinks,
ground truth (docs/simulator.md).

>>> from simulator import SimulationConfig, simulate
>>> sim = simulate(SimulationConfig.preset("blog-11"))
>>> sorted(sim.truth())
[('blog', ('1', '2', '3', '4', '5'))]
"""

from __future__ import annotations

from simulator.config import (
    PRESETS,
    FaultConfig,
    FireConfig,
    SimulationConfig,
    TemperatureConfig,
    TopologyConfig,
    TopologyKind,
)
from simulator.events import decode_line, encode, encode_lines, is_valid_event
from simulator.fire import Infection
from simulator.network import Network, NetworkError, Node
from simulator.simulation import Simulation, simulate
from simulator.topologies import build_network, load_topology_file
from simulator.truth import find_paths, paths_to_json

__all__ = [
    "PRESETS",
    "FaultConfig",
    "FireConfig",
    "Infection",
    "Network",
    "NetworkError",
    "Node",
    "SimulationConfig",
    "Simulation",
    "TemperatureConfig",
    "TopologyConfig",
    "TopologyKind",
    "build_network",
    "decode_line",
    "encode",
    "encode_lines",
    "find_paths",
    "is_valid_event",
    "load_topology_file",
    "paths_to_json",
    "simulate",
]
