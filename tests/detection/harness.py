"""Runs the job's pattern the way the job does, but through the pure-Python `cep.Matcher`.

One matcher per region; events fed in timestamp order (ties in feed order); optionally a restart
(every matcher snapshotted and restored with a freshly built pattern, as after a job restart) or
a watermark (`advance_time`) before chosen events; at the end time is advanced past every window.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from cep import Matcher
from jobs.bushfire.config import DetectionConfig
from jobs.bushfire.patterns import fire_chain, stage_names

Path = tuple[str, tuple[str, ...]]


@dataclass
class DetectionRun:
    """What came out: every match (region, stage -> events) and whether state was left behind."""

    matches: list[tuple[str, dict]] = field(default_factory=list)
    leftover_regions: list[str] = field(default_factory=list)
    restarts: int = 0
    chain_length: int = 0

    def witness(self, match: dict) -> list[dict]:
        """The readings e1..ek of a match, one per stage."""
        return [event for name in stage_names(self.chain_length) for event in match[name]]

    @property
    def paths(self) -> set[Path]:
        """The distinct (region, path) alerted."""
        return {(region, tuple(e["node"] for e in self.witness(m))) for region, m in self.matches}


def time_order(events: Sequence[dict]) -> list[dict]:
    """Events by timestamp, ties kept in feed order (Python's sort is stable)."""
    return sorted(events, key=lambda e: e["ts"])


def run_fire_chain(
    events: Sequence[dict],
    detection: DetectionConfig,
    restart_before: Collection[int] = (),
    watermark_before: Collection[int] = (),
) -> DetectionRun:
    """Feed `events` (in timestamp order) to `fire_chain(detection)`, one Matcher per region.

    Parameters
    ----------
    restart_before
        Positions in the time-ordered feed before which every matcher is snapshotted and restored.
    watermark_before
        Positions before which every matcher gets `advance_time(ts - 1)`, `ts` being that
        event's timestamp: the largest watermark that does not make the event late.
    """
    pattern = fire_chain(detection)
    matchers: dict[str, Matcher] = {}
    run = DetectionRun(chain_length=detection.chain_length)
    ordered = time_order(events)
    for position, event in enumerate(ordered):
        if position in restart_before:
            pattern = fire_chain(detection)  # a restarted job builds its pattern again
            matchers = {r: Matcher.restore(pattern, m.snapshot()) for r, m in matchers.items()}
            run.restarts += 1
        if position in watermark_before:
            for region, matcher in matchers.items():
                matches, _timeouts = matcher.advance_time(event["ts"] - 1)
                run.matches.extend((region, m) for m in matches)
        region = event["region"]
        matcher = matchers.get(region)
        if matcher is None:
            matcher = matchers[region] = Matcher(pattern)
        run.matches.extend((region, m) for m in matcher.process(event, event["ts"]))
    if ordered:
        end = ordered[-1]["ts"] + detection.window_ms
        for region, matcher in matchers.items():
            matches, _timeouts = matcher.advance_time(end)
            run.matches.extend((region, m) for m in matches)
            if not matcher.is_empty():
                run.leftover_regions.append(region)
    return run
