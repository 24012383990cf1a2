"""What a sensor reads: ambient air with a diurnal cycle, a per-sensor micro-climate and noise;
well above the threshold while its area burns; an exponential cool-down (below the threshold)
after it burns out."""

from __future__ import annotations

import math
import random

from simulator.config import TemperatureConfig


class TemperatureModel:
    """Readings for one run. Random draws come from the `rng` passed to each call, so the caller
    decides the order of draws (and with it, determinism)."""

    def __init__(self, cfg: TemperatureConfig, start_ms: int, interval_ms: int) -> None:
        self.cfg = cfg
        self.start_ms = start_ms
        self.interval_ms = interval_ms
        # Ambient stays clear of the threshold even at the hottest hour with 4-sigma noise.
        peak = cfg.ambient_c + cfg.diurnal_amplitude_c + 4 * (cfg.noise_c + cfg.microclimate_c)
        if peak >= cfg.threshold_c:
            msg = (f"ambient can reach {peak:.1f} C, at or above the {cfg.threshold_c} C threshold: "
                   "lower ambient_c/diurnal_amplitude_c/noise so only fires (and spikes) read hot")
            raise ValueError(msg)
        self.cool_start_c = cfg.threshold_c - 3.0

    def microclimate(self, rng: random.Random) -> float:
        """A sensor's fixed offset from its region's ambient temperature (shade, slope...), within 3 sigma."""
        limit = 3 * self.cfg.microclimate_c
        return max(-limit, min(limit, rng.gauss(0.0, self.cfg.microclimate_c)))

    def ambient(self, step: int, lon: float) -> float:
        """Mean air temperature at `step` for a region at longitude `lon` (peak at 15:00 solar time)."""
        ts = self.start_ms + step * self.interval_ms
        hour = (ts / 3_600_000 + lon / 15.0) % 24.0
        return self.cfg.ambient_c + self.cfg.diurnal_amplitude_c * math.sin(2 * math.pi * (hour - 9.0) / 24.0)

    def burning(self, rng: random.Random) -> float:
        """A reading while the sensor's area burns: always at least 0.5 C above the threshold."""
        return max(self.cfg.threshold_c + 0.5, rng.gauss(self.cfg.burning_c, self.cfg.burning_noise_c))

    def cooling(self, ambient: float, steps_since_burnout: int) -> float:
        """A burnt-out sensor's reading: from 3 C below the threshold, decaying towards ambient."""
        decay = math.exp(-(steps_since_burnout * self.interval_ms / 60_000) / self.cfg.cooling_minutes)
        return ambient + (self.cool_start_c - ambient) * decay
