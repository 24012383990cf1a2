"""Benchmark: alert latency with the job reading Kinesis (kinesis-local), as `alert_latency.py` measures it
on a watched directory.

Runs ``python -m jobs.bushfire --source kinesis`` (the pinned connector, TRIM_HORIZON on a fresh stream
of `--shards` shards) with the job's defaults, and puts into the stream, every `--batch-ms`, with
PutRecords (partition key region/node, so each sensor's readings stay in order in one shard), in real
time (event time = wall clock), the same load as `alert_latency.py` builds with its functions:

* a background of live readings, `--rate` readings/s across `--regions` regions, about 2 % hot but
  linked to nothing;
* `--fires` fires along five fresh nodes, one reading a second; half of them arrive shuffled (each
  reading held back a random 0-`--max-delay-s` s).

With `--aggregate N`, each Kinesis record carries up to N readings of one shard in the KPL aggregation
format (aws-kinesis-agg, ``pip install -e .[bench]``), as a high-rate producer using the KPL sends
them; the connector takes them apart again. kinesis-local cannot take 5,000 single records a second on
a shared 2-core machine (see bench/results/alert_latency.md).

A reading "arrives" when the PutRecords call that stored it returns (a record the emulator refused is
put again; it arrives when it is accepted). For each fire it prints the delay from its completing
reading's arrival to its alert line in the alerts file (polled every 10 ms): p50/p99/max, then the
alert set against `simulator.find_paths` over every reading put (missed, false, duplicates), after
`--tail-s` of background past the last fire (beyond the 60 s out-of-orderness, so the pass at the
watermark runs too).

Needs kinesis-local: ``eval "$(emberwatch-local up --kinesis)"`` exports EMBERWATCH_KINESIS_ENDPOINT,
or pass `--endpoint`. Needs the connector: scripts/setup.sh's ensure_kinesis_connector.

    python bench/alert_latency_kinesis.py [--rate 5000] [--shards 8] [--aggregate 100] [--fires 20]

Targets (issue 13): max <= 2 s, p50 <= 1 s, exact set. The machine is shared: say so with the figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alert_latency import (  # noqa: E402
    CHAIN,
    AlertWatcher,
    Fire,
    background,
    make_fire,
    percentile,
    stop_job,
    summary,
)

from simulator import find_paths  # noqa: E402

PUT_RECORDS_MAX = 500  # records per PutRecords call (the Kinesis API's limit)


def _partition_key(reading: dict) -> str:
    return f"{reading['region']}/{reading['node']}"


def _kpl_records(readings: list[dict], shards: list[dict], per_record: int) -> list[dict]:
    """PutRecords entries that each carry up to `per_record` readings in the KPL aggregation format,
    which the connector takes apart again. Readings are grouped by the shard their partition key hashes
    to (the connector drops a reading whose key lies outside its shard), so each sensor stays in order
    in one shard."""
    from aws_kinesis_agg.aggregator import RecordAggregator  # only for --aggregate

    by_shard: dict[str, list[dict]] = {}
    for reading in readings:
        key = int(hashlib.md5(_partition_key(reading).encode()).hexdigest(), 16)
        shard = next(s for s in shards if int(s["HashKeyRange"]["StartingHashKey"]) <= key
                     <= int(s["HashKeyRange"]["EndingHashKey"]))  # fmt: skip
        by_shard.setdefault(shard["HashKeyRange"]["StartingHashKey"], []).append(reading)
    entries = []
    for start_key, group in by_shard.items():
        for first in range(0, len(group), per_record):
            aggregator = RecordAggregator()
            for reading in group[first : first + per_record]:
                aggregator.add_user_record(_partition_key(reading), json.dumps(reading).encode())
            partition_key, _, data = aggregator.clear_and_get().get_contents()
            entries.append({"Data": data, "PartitionKey": partition_key, "ExplicitHashKey": start_key})
    return entries


class Putter:
    """Puts readings into the stream and remembers them; returns when each batch was accepted."""

    def __init__(self, client, stream: str, aggregate: int = 1) -> None:
        self.client = client
        self.stream = stream
        self.aggregate = aggregate
        self.shards = client.list_shards(StreamName=stream)["Shards"] if aggregate > 1 else []
        self.written: list[dict] = []
        self.retried = 0
        self.call_ms: list[int] = []  # how long each PutRecords call took (kinesis-local's pace)

    def put(self, readings: list[dict]) -> int:
        """PutRecords in chunks of 500, again for refused records; the wall ms the last was accepted."""
        if self.aggregate > 1:
            entries = _kpl_records(readings, self.shards, self.aggregate)
        else:
            entries = [{"Data": json.dumps(r).encode(), "PartitionKey": _partition_key(r)} for r in readings]
        for start in range(0, len(entries), PUT_RECORDS_MAX):
            batch = entries[start : start + PUT_RECORDS_MAX]
            while batch:
                called = time.monotonic()
                result = self.client.put_records(StreamName=self.stream, Records=batch)
                self.call_ms.append(int((time.monotonic() - called) * 1000))
                batch = [entry for entry, got in zip(batch, result["Records"]) if "ErrorCode" in got]
                self.retried += len(batch)
                if batch:
                    time.sleep(0.05)
        self.written.extend(readings)
        return int(time.time() * 1000)


def fresh_stream(client, name: str, shards: int) -> None:
    """The stream `name` with `shards` shards and nothing in it (an old one is deleted first)."""
    if name in client.list_streams()["StreamNames"]:
        client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
        client.get_waiter("stream_not_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.5})
    client.create_stream(StreamName=name, ShardCount=shards)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.5})


def report(fires: list[Fire], watcher: AlertWatcher, written: list[dict]) -> bool:
    """Print the latencies and the alert set against the truth; True when the targets are met."""
    delays: dict[str, list[int]] = {"in order": [], "shuffled": []}
    unalerted = 0
    for fire in fires:
        seen = watcher.seen.get((fire.region, fire.path))
        if seen is None:
            unalerted += 1
            continue
        delays["shuffled" if fire.shuffled else "in order"].append(seen - fire.completing_arrival_ms)
    print("completing reading put -> alert in the file:")
    for name, values in delays.items():
        print("  " + summary(name, values))
    every = delays["in order"] + delays["shuffled"]
    print("  " + summary("all", every))
    found = set(watcher.seen)
    truth = find_paths(written, CHAIN)
    duplicates = len(watcher.lines) - len(found)
    early = sum(1 for a in watcher.lines if a.get("found") == "early")
    print(
        f"alerts: {len(watcher.lines)} lines ({early} found early), truth {len(truth)} paths: "
        f"found {len(found & truth)}, missed {len(truth - found)}, false {len(found - truth)}, "
        f"duplicates {duplicates}; fires without an alert: {unalerted}"
    )
    exact = found == truth and duplicates == 0
    on_target = bool(every) and max(every) <= 2_000 and percentile(every, 0.5) <= 1_000
    print(f"targets (max <= 2 s, p50 <= 1 s, exact set): {'met' if exact and on_target else 'NOT met'}")
    return exact and on_target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("EMBERWATCH_KINESIS_ENDPOINT"),
                        help="kinesis-local URL (default: $EMBERWATCH_KINESIS_ENDPOINT)")  # fmt: skip
    parser.add_argument("--stream", default="alert-latency")
    parser.add_argument("--shards", type=int, default=8, help="shards of the fresh stream")
    parser.add_argument(
        "--aggregate", type=int, default=1, help="readings per Kinesis record, KPL-aggregated; 1: one each"
    )
    parser.add_argument("--rate", type=int, default=5_000, help="background readings per second")
    parser.add_argument("--regions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60, help="how long fires are started")
    parser.add_argument("--fires", type=int, default=20)
    parser.add_argument("--max-delay-s", type=float, default=6.0, help="hold-back of shuffled readings")
    parser.add_argument("--tail-s", type=float, default=70, help="background after the last fire")
    parser.add_argument("--batch-ms", type=int, default=100, help="one PutRecords round per this many ms")
    parser.add_argument("--warmup-timeout-s", type=float, default=240)
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "alert-latency-kinesis"))
    parser.add_argument("--job-flag", action="append", default=[], help="extra job flag (repeat)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    if not args.endpoint:
        parser.error('no kinesis-local: run eval "$(emberwatch-local up --kinesis)" or pass --endpoint')
    rng = random.Random(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in ("alerts.jsonl", "dead-letters.jsonl"):
        (out / old).unlink(missing_ok=True)
    client = boto3.client("kinesis", endpoint_url=args.endpoint, region_name="us-east-1",
                          aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                          aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"))  # fmt: skip
    fresh_stream(client, args.stream, args.shards)
    putter = Putter(client, args.stream, args.aggregate)
    alerts_file = out / "alerts.jsonl"
    command = [
        sys.executable, "-m", "jobs.bushfire", "--source", "kinesis", "--kinesis-stream", args.stream,
        "--kinesis-endpoint", args.endpoint, "--kinesis-initpos", "TRIM_HORIZON",
        "--alerts-out", str(alerts_file), "--dead-letters", str(out / "dead-letters.jsonl"),
        "--console", "false", *args.job_flag,
    ]  # fmt: skip
    print("running:", " ".join(command), flush=True)
    log = open(out / "job.log", "wb")  # noqa: SIM115 - closed below
    job = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)
    watcher = AlertWatcher(alerts_file)
    watcher.start()
    sensors = max(1, args.rate // args.regions)
    numbered = 0
    try:
        # Warm-up: one fire alone until its alert is in the file, i.e. the job reads the stream.
        started = time.time()
        warm = make_fire(-1, "warmup", int(time.time() * 1000), False, 0, rng)
        while ("warmup", warm.path) not in watcher.seen:
            if job.poll() is not None or time.time() - started > args.warmup_timeout_s:
                print(f"the job did not alert the warm-up fire (exit {job.poll()}); see {out / 'job.log'}")
                return 2
            now = int(time.time() * 1000)
            batch = [r for due, r in warm.readings if r["event_id"] not in warm.arrived_ms and due <= now]
            if batch:
                arrived = putter.put(batch)
                warm.arrived_ms.update((r["event_id"], arrived) for r in batch)
            time.sleep(args.batch_ms / 1000)
        print(f"warm-up: the job alerted after {time.time() - started:.0f} s", flush=True)

        begin = int(time.time() * 1000)
        gap = args.seconds * 1000 / max(1, args.fires)
        fires = [make_fire(k, f"r{(k * 37) % args.regions}", begin + int(k * gap), k % 2 == 1,
                           int(args.max_delay_s * 1000), rng) for k in range(args.fires)]  # fmt: skip
        end = max(due for f in fires for due, _ in f.readings) + int(args.tail_s * 1000)
        overran = 0
        while True:
            now = int(time.time() * 1000)
            if now >= end:
                break
            count = max(0, int(args.rate * (now - begin + args.batch_ms) / 1000) - numbered)
            batch = background(numbered, count, now, args.regions, sensors, rng)
            numbered += count
            due_now = [
                (f, r)
                for f in fires
                for due, r in f.readings
                if due <= now and r["event_id"] not in f.arrived_ms
            ]
            # the fires' due readings first: they were due before this round's background (now)
            arrived = putter.put([r for _f, r in due_now] + batch)
            for fire, reading in due_now:
                fire.arrived_ms[reading["event_id"]] = arrived
            spare = args.batch_ms / 1000 - (time.time() * 1000 - now) / 1000
            overran += spare < 0
            time.sleep(max(0.0, spare))
        elapsed = (int(time.time() * 1000) - begin) / 1000
        time.sleep(3)  # the last alerts' way out
    finally:
        stop_job(job, log, watcher)
    print(
        f"background: {numbered:,} readings in {elapsed:.0f} s = {numbered / elapsed:,.0f} readings/s across "
        f"{args.regions} regions into {args.shards} shards, {args.aggregate} a record "
        f"(rounds over {args.batch_ms} ms: {overran}; "
        f"records refused and put again: {putter.retried}); fires: {len(fires)}"
    )
    calls = putter.call_ms
    print(f"PutRecords calls: {len(calls)}, p50 {percentile(calls, 0.5)} ms, max {max(calls)} ms")
    dead = (
        (out / "dead-letters.jsonl").read_text().splitlines() if (out / "dead-letters.jsonl").exists() else []
    )
    print(f"dead letters: {len(dead)}")
    return 0 if report(fires, watcher, putter.written) else 1


if __name__ == "__main__":
    sys.exit(main())
