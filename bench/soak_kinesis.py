"""The soak benchmark's Kinesis input (`bench/soak.py --source kinesis`): the producer's feed files are put
into a fresh kinesis-local stream, KPL-aggregated, instead of being moved into a watched directory.

kinesis-local is started on a free port with ``emberwatch-local``'s code and stopped afterwards, unless
one runs already (``--kinesis-endpoint``, ``$EMBERWATCH_KINESIS_ENDPOINT`` or the stack's state): then
it is used and left running. Each feed file becomes one round of the simulator's Kinesis sink
(`KinesisSink(aggregate=True)`, keyed by region, so a region's readings stay in order in one shard):
the same bytes as the file feed, malformed lines included, so the producer's truth holds for it. The
job reads the stream from TRIM_HORIZON; its source's read count is the Kinesis source operator's
``numRecordsOut`` (it counts each reading the connector de-aggregated), and the connector's
per-shard ``millisBehindLatest`` gauges say how far behind the stream's tip it is in time.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Optional

import boto3
from alert_latency_kinesis import fresh_stream
from soak_watch import SourceCounter, process_tree, sample

from emberwatch_local import stack
from emberwatch_local.services import COMMON_EXPORTS
from simulator import decode_line
from simulator.events import Record
from simulator.sinks.kinesis import KinesisSink
from simulator.sinks.kpl import ShardMap
from tests.support.servers import free_port_pair

ROLE = "kinesis-local"


def feed_records(data: bytes) -> list[Record]:
    """The records of one feed file (JSON Lines, split at ``\\n`` only, as the job splits files): valid
    readings as dicts (the sink keys them by region), anything else as its raw bytes."""
    return [decode_line(line) for line in data.split(b"\n") if line]


def flush_regions(shard_map: ShardMap, prefix: str = "zz-flush") -> list[str]:
    """One region name per open shard, each keyed into its own shard: a quiet reading in each moves
    every shard's watermark past the feed, so no shard holds the job's watermark back at the end."""
    wanted = {shard.shard_id for shard in shard_map.shards}
    found: dict[str, str] = {}
    number = 0
    while len(found) < len(wanted):
        region = f"{prefix}-{number}"
        found.setdefault(shard_map.shard_for(region).shard_id, region)
        number += 1
    return [found[shard.shard_id] for shard in shard_map.shards]


class KinesisInput:
    """A fresh stream in kinesis-local that the soak's feed files are put into, and the job's flags for it."""

    read_metric = "numRecordsOut"  # a legacy SourceFunction counts what it emits as its records out

    def __init__(self, endpoint: Optional[str], stream: str, shards: int) -> None:
        for name, value in COMMON_EXPORTS.items():  # dummy credentials for boto3 and the job's connector
            os.environ.setdefault(name, value)
        self.started: Optional[stack.Running] = None
        running = stack.load().get("kinesis")
        if endpoint is None and running is None:
            self.started = running = stack.up("kinesis", free_port_pair())
            print(f"started kinesis-local at {running.url} (pid {running.pid})", flush=True)
        self.endpoint = (endpoint or running.url).rstrip("/")
        self.pid = running.pid if running is not None and running.url == self.endpoint else None
        self.stream, self.shards = stream, shards
        region = COMMON_EXPORTS["AWS_REGION"]
        self.client = boto3.client("kinesis", endpoint_url=self.endpoint, region_name=region)
        fresh_stream(self.client, stream, shards)
        self.sink = KinesisSink(stream, boto3_client=self.client, aggregate=True, partition_key="region")
        self.put_ms: list[int] = []  # how long each feed file's PutRecords round took
        self._cpu_mark: Optional[tuple[float, float]] = None  # (monotonic s, emulator CPU s) at last status

    def job_source(self) -> list[str]:
        return ["--source", "kinesis", "--kinesis-stream", self.stream, "--kinesis-endpoint", self.endpoint,
                "--kinesis-initpos", "TRIM_HORIZON"]  # fmt: skip

    def deliver(self, path: Path) -> None:
        """Put one feed file's lines (every one accepted: the sink puts refused records again), then
        delete the file."""
        records = feed_records(path.read_bytes())
        called = time.monotonic()
        self.sink.write(records)
        self.sink.flush()
        self.put_ms.append(int((time.monotonic() - called) * 1000))
        path.unlink()

    def put_flush(self, reading: dict, _sequence: int) -> int:
        """The quiet flush reading, once into every shard (each in a region of its own); how many."""
        shard_map = ShardMap.from_list_shards(self.client.list_shards(StreamName=self.stream)["Shards"])
        readings = [{**reading, "event_id": f"{region}:1", "region": region, "node": region}
                    for region in flush_regions(shard_map)]  # fmt: skip
        self.sink.write(readings)
        self.sink.flush()
        return len(readings)

    def processes(self) -> dict[int, str]:
        """The emulator's processes (when its pid is known), so the bench samples their memory and CPU."""
        alive = self.pid is not None and Path(f"/proc/{self.pid}").exists()
        return {pid: ROLE for pid in process_tree(self.pid)} if alive else {}

    def status(self, source: SourceCounter) -> str:
        """How far the job's consumer is behind the stream's tip (the largest ``millisBehindLatest``),
        and the emulator's share of a core since the last status."""
        behind = [v for v in source.gauges(".millisBehindLatest").values() if v >= 0]
        text = f"behind latest {max(behind) / 1000:5.1f} s" if behind else "behind latest ?"
        cpu = [s.cpu_s for s in (sample(pid, ROLE) for pid in self.processes()) if s]
        if cpu:
            now, used = time.monotonic(), sum(cpu)
            if self._cpu_mark is not None and now > self._cpu_mark[0]:
                text += f", {ROLE} {(used - self._cpu_mark[1]) / (now - self._cpu_mark[0]):4.0%} of a core"
            self._cpu_mark = (now, used)
        return text

    def report(self, figures: dict, fed_s: float) -> None:
        """The put side: calls, Kinesis records, refusals, round times; and the emulator's CPU share."""
        stats, rounds = self.sink.stats, sorted(self.put_ms) or [0]
        print(f"PutRecords: {stats.calls:,} calls, {self.sink.kinesis_records:,} KPL aggregates for "
              f"{stats.records:,} readings into {self.shards} shards, {stats.retried:,} refused and put "
              f"again; a file's round took p50 {rounds[len(rounds) // 2]} ms, max {rounds[-1]} ms",
              flush=True)  # fmt: skip
        emulator = sum(s for role, s in figures.get("cpu", {}).values() if role == ROLE)
        if emulator:
            print(f"kinesis-local CPU while fed: {emulator:.1f} s = {emulator / fed_s:.0%} of a core "
                  f"({emulator / max(1, figures['lines']) * 5_000:.2f} s per 5,000 readings put and read)",
                  flush=True)  # fmt: skip
        else:
            print("kinesis-local CPU not measured: it was not started by emberwatch-local here", flush=True)

    def close(self, _keep_files: bool) -> None:
        """Stop the emulator if this bench started it; else delete the stream (the emulator keeps it in
        memory)."""
        if self.started is not None:
            stack.down(["kinesis"])
        else:
            with contextlib.suppress(Exception):
                self.client.delete_stream(StreamName=self.stream, EnforceConsumerDeletion=True)
