"""Restart drill: SIGKILL the job at random points, restore from its last checkpoint, repeat; compare.

Simulates a small network with the simulator's faults on and drops its records into a watched directory
over `--feed-s` seconds (one file every `--batch-ms`, written hidden and renamed). The job runs with
checkpoints every `--checkpoint-interval`; `--kills` times, at a random moment (up to
`--max-kill-delay-s` after the running job completed a checkpoint of its own), its whole process
tree is killed with SIGKILL (no chance to flush or cancel) and started again with ``--restore-from``
the newest completed checkpoint. The feed goes on regardless, as a shipper would. After the last
file (and one reading far ahead in event time, so the watermark passes every pending match) the job
runs until its alerts file is quiet, then gets SIGTERM.

It prints, against the simulator's ground truth and the malformed lines it wrote:
missed and false alerts, duplicated alert lines, malformed/invalid lines without a dead letter (lost),
and dead letters written more than once (a replay after restore; allowed, at-least-once).

    python bench/restarts.py [--kills 5] [--feed-s 90]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soak import process_tree  # noqa: E402  (bench/ is this script's folder)

from simulator import (  # noqa: E402
    FaultConfig,
    FireConfig,
    SimulationConfig,
    TopologyConfig,
    encode,
    is_valid_event,
    simulate,
)


def newest_checkpoint(folder: Path) -> Path | None:
    """The newest chk-N folder with a _metadata file (a completed checkpoint) under `folder`."""
    done = [meta.parent for meta in folder.glob("*/chk-*/_metadata")]
    return max(done, key=lambda p: p.stat().st_mtime) if done else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--feed-s", type=float, default=90, help="how long the records are fed")
    parser.add_argument("--batch-ms", type=int, default=500)
    parser.add_argument("--checkpoint-interval", default="2s")
    parser.add_argument(
        "--max-kill-delay-s",
        type=float,
        default=8,
        help="a kill comes at a random moment up to this long after a checkpoint",
    )
    parser.add_argument("--quiet-s", type=float, default=30, help="alerts file quiet this long: done")
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "restarts"))
    parser.add_argument("--out-of-orderness", default="30s", help="the job's --out-of-orderness")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    out = Path(args.out)
    in_dir, ckpt = out / "in", out / "checkpoints"
    for folder in (in_dir, ckpt):
        folder.mkdir(parents=True, exist_ok=True)
    for old in [*in_dir.iterdir(), out / "alerts.jsonl", out / "dead-letters.jsonl"]:
        old.unlink(missing_ok=True)
    subprocess.run(["rm", "-rf", str(ckpt)], check=True)

    faults = FaultConfig(
        delay_rate=0.05, max_delay_ms=20_000, drop_rate=0.01, duplicate_rate=0.03, spike_rate=0.01,
        stuck_rate=0.02, malformed_rate=0.01,
    )  # fmt: skip
    sim = simulate(
        SimulationConfig(
            topology=TopologyConfig(regions=8, nodes_per_region=36, grid_cols=6),
            fire=FireConfig(
                ignitions_per_region=1.0, ignition_horizon=0.5, spread_probability=0.3, burn_minutes=12
            ),
            faults=faults, minutes=60, seed=args.seed,
        )
    )  # fmt: skip
    records = list(sim.delivered())
    truth = Counter(sim.truth())
    bad = Counter(r.decode("utf-8", "replace") for r in records if isinstance(r, bytes) and not _valid(r))
    last_ts = max(r["ts"] for r in records if isinstance(r, dict))
    print(
        f"{len(records):,} records, truth {len(truth)} paths, {sum(bad.values())} malformed lines", flush=True
    )

    base = [
        sys.executable, "-m", "jobs.bushfire", "--source", "files", "--input", str(in_dir),
        "--monitor-interval", "500ms", "--out-of-orderness", args.out_of_orderness,
        "--alerts-out", str(out / "alerts.jsonl"), "--dead-letters", str(out / "dead-letters.jsonl"),
        "--console", "false", "--log-file", str(out / "job-detail.log"), "--progress-interval", "0",
        "--checkpoint-interval", args.checkpoint_interval, "--checkpoint-dir", ckpt.resolve().as_uri(),
    ]  # fmt: skip
    log = open(out / "job.log", "ab")  # noqa: SIM115 - closed below

    def start(restore: Path | None) -> subprocess.Popen:
        command = base + (["--restore-from", str(restore)] if restore else [])
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)

    per_batch = max(1, int(len(records) * args.batch_ms / 1000 / args.feed_s))
    batches = [records[i : i + per_batch] for i in range(0, len(records), per_batch)]
    flush = {"event_id": "flush:1", "node": "flush", "region": "zz-flush", "ts": last_ts + 6 * 3_600_000,
             "temperature": 20.0, "infectedBy": None, "lat": 0.0, "lon": 0.0}  # fmt: skip
    batches.append([flush])
    print(f"feeding {len(batches)} files over {args.feed_s:.0f} s; {args.kills} kills", flush=True)
    job = start(None)
    restores: list[str] = []
    begin = time.time()
    fed = 0
    restored_from: Path | None = None
    kill_due: float | None = None  # set once the running job has completed a checkpoint of its own
    try:
        while fed < len(batches) or len(restores) < args.kills:
            now = time.time() - begin
            if fed < len(batches) and now >= fed * args.batch_ms / 1000:
                hidden = in_dir / f".{fed:06d}.jsonl"
                hidden.write_bytes(b"".join(encode(r) + b"\n" for r in batches[fed]))
                hidden.rename(in_dir / f"{fed:06d}.jsonl")
                fed += 1
            if len(restores) < args.kills:
                chk = newest_checkpoint(ckpt)
                if kill_due is None and chk is not None and chk != restored_from:
                    kill_due = now + rng.uniform(0, args.max_kill_delay_s)  # a random point after it
                if kill_due is not None and now >= kill_due:
                    for pid in process_tree(job.pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            continue
                    job.wait()
                    restored_from = newest_checkpoint(ckpt)
                    restores.append(f"{now:.0f}s -> {restored_from.parent.name[:8]}/{restored_from.name}")
                    print(
                        f"SIGKILL at {now:.0f} s (fed {fed}/{len(batches)} files, "
                        f"{_lines(out / 'alerts.jsonl')} alerts written); restoring from {restored_from}",
                        flush=True,
                    )
                    job = start(restored_from)
                    kill_due = None
            time.sleep(0.05)
        alerts = out / "alerts.jsonl"
        quiet_since, size = time.time(), -1
        while time.time() - quiet_since < args.quiet_s:
            current = alerts.stat().st_size if alerts.exists() else 0
            if current != size:
                size, quiet_since = current, time.time()
            time.sleep(1)
    finally:
        job.send_signal(signal.SIGTERM)
        try:
            job.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for pid in process_tree(job.pid):
                os.kill(pid, signal.SIGKILL)
        log.close()

    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines() if line.strip()]
    found = Counter((a["region"], tuple(a["path"])) for a in alerts)
    letters = [
        json.loads(line) for line in (out / "dead-letters.jsonl").read_text().splitlines() if line.strip()
    ]
    lettered = Counter(d["raw"] for d in letters if d["reason"] in ("malformed", "invalid"))
    late = sum(d["reason"] == "late" for d in letters)
    lost = sum((bad - lettered).values())
    repeated = sum(n - 1 for n in lettered.values() if n > 1)
    missed, false = sum((truth - found).values()), sum((found - truth).values())
    duplicates = sum(n - 1 for n in found.values() if n > 1)
    print(f"restores (kill time -> job/checkpoint): {restores}")
    print(
        f"alerts: {len(alerts)} lines, truth {sum(truth.values())}: missed {missed}, false {false}, "
        f"duplicated lines {duplicates}; malformed/invalid lines {sum(bad.values())}: "
        f"without a dead letter {lost}, "
        f"dead letters written again after a restore {repeated}; late readings {late}"
    )
    ok = not (missed or false or duplicates or lost)
    print("same alert set, no duplicate alert, no lost dead letter:", "yes" if ok else "NO")
    return 0 if ok else 1


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip()) if path.exists() else 0


def _valid(raw: bytes) -> bool:
    try:
        return is_valid_event(json.loads(raw))
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
