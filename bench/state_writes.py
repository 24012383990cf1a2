"""Benchmark what `CepFunction` pays per event-time timer to keep a key's matcher in Flink state.

Issue 17: the function used to snapshot (pickle) the whole matcher after each timer to find out
whether it changed; it now keeps a changed flag per key (`cep.flink.state_writes`). This drives
`CepFunction` directly, with in-memory stand-ins for Flink's keyed state and timers (no JVM: the
figure is the Python side of a timer), over `--keys` keys that each hold `--live` partial matches of
``a -> b within 60 s`` (keyed by nothing: one pattern instance per key), in two kinds of timer:

* idle: the key's timer fires at a deadline whose partial match already completed (its expiry record
  is still queued), so nothing is due and nothing expires; the state must not be written.
* busy: one new event is due; the state changed and must be written.

Printed per kind: CPU microseconds per timer (`time.process_time`, so that other work on a shared
machine disturbs it less than wall time; median over `--rounds` rounds of every key), matcher
snapshots taken and state writes made per timer. Compare with the code of an older commit with
`--against DIR` (a checkout of it, e.g. ``git worktree add /tmp/old <commit>``): `cep` is then
imported from there.

    python bench/state_writes.py [--keys 300] [--live 10,100,400] [--rounds 5] [--against DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

WINDOW_MS = 60_000


class _Keyed:
    """The current key, shared by the state stand-ins (Flink's keyed backend, in a dict)."""

    key: Any = None


class _Value:
    def __init__(self, keyed: _Keyed) -> None:
        self.keyed = keyed
        self.by_key: dict = {}
        self.writes = 0

    def value(self):
        return self.by_key.get(self.keyed.key)

    def update(self, v) -> None:
        self.by_key[self.keyed.key] = v
        self.writes += 1

    def clear(self) -> None:
        self.by_key.pop(self.keyed.key, None)
        self.writes += 1


class _MapState:
    def __init__(self, keyed: _Keyed) -> None:
        self.keyed = keyed
        self.by_key: dict = {}

    def _map(self) -> dict:
        return self.by_key.setdefault(self.keyed.key, {})

    def put(self, k, v) -> None:
        self._map()[k] = v

    def remove(self, k) -> None:
        self._map().pop(k, None)

    def items(self):
        return list(self._map().items())


class _Metrics:
    class _Counter:
        def inc(self, n: int = 1) -> None:
            pass

    def add_group(self, name):
        return self

    def counter(self, name):
        return self._Counter()

    def gauge(self, name, read) -> None:
        pass


class _Runtime:
    def __init__(self, keyed: _Keyed) -> None:
        self.values: dict[str, _Value] = {}
        self.map = _MapState(keyed)
        self.keyed = keyed

    def get_state(self, descriptor):
        return self.values.setdefault(descriptor.name, _Value(self.keyed))

    def get_map_state(self, descriptor):
        return self.map

    def get_metrics_group(self):
        return _Metrics()


class _Ctx:
    def __init__(self, keyed: _Keyed) -> None:
        self.keyed = keyed
        self.watermark = -(2**63)
        self.ts = 0

    def timer_service(self):
        return self

    def current_watermark(self) -> int:
        return self.watermark

    def register_event_time_timer(self, ts: int) -> None:
        pass

    def delete_event_time_timer(self, ts: int) -> None:
        pass

    def timestamp(self) -> int:
        return self.ts

    def get_current_key(self):
        return self.keyed.key


def pattern():
    from cep import Pattern
    from cep import conditions as C

    return (
        Pattern.begin("a")
        .where(C.field("k") == "a")
        .followed_by("b")
        .where(C.field("k") == "b")
        .within(WINDOW_MS)
    )


def run(keys: int, live: int, rounds: int) -> dict[str, tuple[float, float, float]]:
    """{kind: (µs per timer, snapshots per timer, writes per timer)} for keys holding `live` each."""
    from cep import Matcher
    from cep.flink.operator import CepFunction

    snapshots = [0]
    original = Matcher.snapshot

    def counted(matcher: Any) -> bytes:
        snapshots[0] += 1
        return original(matcher)

    Matcher.snapshot = counted  # type: ignore[method-assign]
    try:
        keyed = _Keyed()
        runtime = _Runtime(keyed)
        function = CepFunction(pattern(), lambda match, ctx: [match])
        function.GAUGE_REFRESH_S = 1e9
        function.open(runtime)
        ctx = _Ctx(keyed)
        value = runtime.get_state(type("D", (), {"name": "cep-matcher"})())

        def event(key: int, kind: str, ts: int) -> None:
            keyed.key, ctx.ts = key, ts
            list(function.process_element({"k": kind}, ctx))

        def timer(key: int, watermark: int) -> None:
            keyed.key, ctx.watermark = key, watermark
            list(function.on_timer(watermark, ctx))

        results: dict[str, list] = {"idle": [], "busy": []}
        counts = {"idle": [0, 0, 0], "busy": [0, 0, 0]}  # timers, snapshots, writes
        base = 0
        for _round in range(rounds):
            # each key: a@t, b@t+1 (completes it; its expiry record stays queued), then `live` a's
            for key in range(keys):
                event(key, "a", base + 1)
                event(key, "b", base + 2)
                for i in range(live):
                    event(key, "a", base + 3 + i)
            setup_wm = base + 3 + live
            for key in range(keys):
                timer(key, setup_wm)
            for kind, watermark in (("idle", base + 1 + WINDOW_MS), ("busy", base + 2 + WINDOW_MS)):
                if kind == "busy":
                    for key in range(keys):
                        event(key, "a", watermark)
                before_snap, before_writes = snapshots[0], value.writes
                started = time.process_time()
                for key in range(keys):
                    timer(key, watermark)
                results[kind].append((time.process_time() - started) / keys * 1e6)
                counts[kind][0] += keys
                counts[kind][1] += snapshots[0] - before_snap
                counts[kind][2] += value.writes - before_writes
            base += 10 * WINDOW_MS  # the next round: every partial match of this one has expired
            for key in range(keys):
                timer(key, base)
        return {
            kind: (
                statistics.median(results[kind]),
                counts[kind][1] / counts[kind][0],
                counts[kind][2] / counts[kind][0],
            )
            for kind in results
        }
    finally:
        Matcher.snapshot = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--live", default="10,100,400", help="partial matches per key (comma separated)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", type=Path, help="import cep from this checkout instead")
    args = parser.parse_args()
    code = args.against.resolve() if args.against else ROOT
    sys.path.insert(0, str(code))
    import cep

    print(f"cep from {Path(cep.__file__).parent}; {args.keys} keys, {args.rounds} rounds, a -> b within 60 s")
    print(f"{'live/key':>8} {'timer':>5} {'CPU µs/timer':>12} {'snapshots':>9} {'writes':>7}")
    for live in (int(n) for n in args.live.split(",")):
        for kind, (micros, snaps, writes) in run(args.keys, live, args.rounds).items():
            print(f"{live:>8} {kind:>5} {micros:>12.1f} {snaps:>9.2f} {writes:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
