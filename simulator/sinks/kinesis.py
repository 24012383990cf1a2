"""Kinesis Data Streams sink: PutRecords in batches, re-sending only the records that failed; optionally
KPL-aggregated (many records in one Kinesis record, see `simulator.sinks.kpl`)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from common.aws import build_client
from simulator.events import Record, encode
from simulator.sinks.base import Sink, SinkError
from simulator.sinks.kpl import (
    Aggregate,
    AggregationUnavailable,
    KplPacker,
    RecordTooBig,
    ShardMap,
    ShardMapError,
    agg_record_class,
)

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

logger = logging.getLogger(__name__)

MAX_RECORDS_PER_CALL = 500  # PutRecords: at most 500 records per request
MAX_BYTES_PER_CALL = 5 * 1024 * 1024  # ... and 5 MiB per request (data + partition keys)
MAX_RECORD_BYTES = 1024 * 1024  # ... and 1 MiB per record (the default stream limit)
MALFORMED_PARTITION_KEY = "malformed"
PARTITION_KEYS = ("node", "region")  # the reading field that is the partition key

RetryHook = Callable[[int, list[dict], dict[str, int]], None]


class KinesisSink(Sink):
    """Send records to a Kinesis stream with `put_records`, partition key = the record's node (or region).

    Records are buffered into batches within the PutRecords limits. A response may report some
    records failed (throttling, internal errors); only those are sent again, after an exponential
    backoff with full jitter, up to `max_attempts` times; then `SinkError` names what was lost.
    Retries change the order only among records of one batch; consumers order by event time.

    With `aggregate`, records go out KPL-aggregated: each Kinesis record packs the records of one
    shard (each keeps its own partition key inside), up to the record limit, as the KPL does at high
    rates; consumers that de-aggregate (the KCL, Flink's Kinesis connector) see the single records
    again. Records of one key stay in order in one shard. The shards are listed at the first send; an
    aggregate that lands in another shard than planned (the stream was resharded) is packed and sent
    again for the current shards, so its records arrive at least once (the job drops re-deliveries).

    Parameters
    ----------
    stream_name : the stream to write to
    boto3_client, boto3_session, config, endpoint_url : how to get the client (see `build_client`)
    max_attempts : attempts per record, first send included
    base_backoff_s, max_backoff_s : the backoff before retry n is uniform in [0, min(max, base * 2**n)]
    max_record_bytes : data + partition key limit per record (raise it for streams configured for more;
        aggregates stay within 1 MiB, the most the aggregation library packs)
    on_retry : called as `on_retry(attempt, failed_entries, error_counts)` before each re-send
    aggregate : pack records KPL-style (needs aws-kinesis-agg: the `kpl` extra)
    partition_key : "node" (default) or "region": the field each record is keyed by; by region, all of
        a region's readings stay in order in one shard
    """

    def __init__(
        self,
        stream_name: str,
        *,
        boto3_client: Any = None,
        boto3_session: boto3.session.Session | None = None,
        config: Config | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 8,
        base_backoff_s: float = 0.05,
        max_backoff_s: float = 5.0,
        max_record_bytes: int = MAX_RECORD_BYTES,
        on_retry: RetryHook | None = None,
        seed: int | None = None,
        aggregate: bool = False,
        partition_key: str = "node",
    ) -> None:
        super().__init__()
        if partition_key not in PARTITION_KEYS:
            raise ValueError(f"partition_key must be one of {PARTITION_KEYS}, got {partition_key!r}")
        if aggregate:
            try:
                agg_record_class()  # before anything is simulated: say now when the library is missing
            except AggregationUnavailable as exc:
                raise SinkError(str(exc)) from exc
        self.stream_name = stream_name
        self.client = build_client(
            "kinesis", boto3_client=boto3_client, boto3_session=boto3_session, config=config,
            endpoint_url=endpoint_url,
        )
        self.max_attempts = max_attempts
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_record_bytes = max_record_bytes
        self.on_retry = on_retry
        self.aggregate = aggregate
        self.partition_key = partition_key
        self.kinesis_records = 0  # Kinesis records accepted (fewer than stats.records when aggregating)
        self.resent_after_reshard = 0  # records packed again because their aggregate landed elsewhere
        self._rng = random.Random(seed)
        self._packer: KplPacker | None = None  # made at the first record (it needs the shards)
        self._aggregate_bytes = min(max_record_bytes, MAX_RECORD_BYTES)
        self._batch: list[Aggregate] = []
        self._batch_bytes = 0

    def ensure_stream(self, shards: int = 1) -> None:
        """Create the stream if it does not exist, and wait until it is active."""
        try:
            self.client.create_stream(StreamName=self.stream_name, ShardCount=shards)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise SinkError(f"cannot create Kinesis stream {self.stream_name!r}: {exc}") from exc
        self.client.get_waiter("stream_exists").wait(
            StreamName=self.stream_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
        )

    def write(self, records: Sequence[Record]) -> None:
        for record in records:
            data = encode(record)
            field = record.get(self.partition_key) if isinstance(record, dict) else None
            key = field if isinstance(field, str) and field else MALFORMED_PARTITION_KEY
            if self.aggregate:
                self._pack(key, data)
                continue
            size = len(data) + len(key.encode())
            if size > self.max_record_bytes:
                raise SinkError(self._too_big(size, self.max_record_bytes))
            self._enqueue(Aggregate("", {"Data": data, "PartitionKey": key}, [(key, data)]))

    def flush(self) -> None:
        """Send everything buffered, open aggregates included (and anything a reshard sent back)."""
        while self._batch or (self._packer is not None and self._packer.has_open()):
            if self._packer is not None:
                for full in self._packer.drain():
                    self._enqueue(full)
            self._send_batch()

    def _too_big(self, size: int, limit: int) -> str:
        return (f"record of {size} bytes exceeds the {limit}-byte Kinesis record limit; raise the stream's "
                "max record size and pass max_record_bytes")

    def _pack(self, key: str, data: bytes) -> None:
        if self._packer is None:
            self._packer = KplPacker(self._shard_map(), self._aggregate_bytes)
        try:
            full = self._packer.add(key, data)
        except RecordTooBig:
            raise SinkError(self._too_big(len(data) + len(key.encode()), self._aggregate_bytes)) from None
        except ShardMapError as exc:
            raise SinkError(f"cannot aggregate for {self.stream_name!r}: {exc}") from None
        for aggregate in full:
            self._enqueue(aggregate)

    def _shard_map(self) -> ShardMap:
        try:
            pages = self.client.get_paginator("list_shards").paginate(StreamName=self.stream_name)
            return ShardMap.from_list_shards([shard for page in pages for shard in page["Shards"]])
        except (ClientError, BotoCoreError, ShardMapError) as exc:
            raise SinkError(f"cannot list the shards of {self.stream_name!r} to aggregate: {exc}") from exc

    def _enqueue(self, item: Aggregate) -> None:
        size = len(item.entry["Data"]) + len(item.entry["PartitionKey"].encode())
        if len(self._batch) >= MAX_RECORDS_PER_CALL or self._batch_bytes + size > MAX_BYTES_PER_CALL:
            self._send_batch()
        self._batch.append(item)
        self._batch_bytes += size

    def _send_batch(self) -> None:
        if not self._batch:
            return
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        misrouted = self._put(batch)
        if misrouted:
            self._reshard(misrouted)

    def _reshard(self, misrouted: list[Aggregate]) -> None:
        """Aggregates landed in other shards than planned: the stream was resharded. List the shards
        again and pack their records (and those of the aggregates still open) anew."""
        logger.warning("%d aggregates for %s landed in another shard than planned (resharded?); "
                       "sending their records again", len(misrouted), self.stream_name)
        repack = [*misrouted, *(self._packer.drain() if self._packer is not None else [])]
        self._packer = KplPacker(self._shard_map(), self._aggregate_bytes)
        self.resent_after_reshard += sum(len(item.user_records) for item in misrouted)
        for item in repack:
            for key, data in item.user_records:
                self._pack(key, data)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0.0, min(self.max_backoff_s, self.base_backoff_s * 2 ** attempt))

    def _put(self, items: list[Aggregate]) -> list[Aggregate]:
        """PutRecords until every item is accepted; returns the aggregates that landed in another
        shard than they were packed for."""
        pending = items
        misrouted: list[Aggregate] = []
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.put_records(StreamName=self.stream_name,
                                                   Records=[item.entry for item in pending])
            except (ClientError, BotoCoreError) as exc:
                msg = f"PutRecords to {self.stream_name!r} failed for {len(pending)} records: {exc}"
                raise SinkError(msg) from exc
            self.stats.calls += 1
            failed: list[Aggregate] = []
            errors: dict[str, int] = {}
            for item, result in zip(pending, response["Records"]):
                if result.get("ErrorCode"):
                    failed.append(item)
                    errors[result["ErrorCode"]] = errors.get(result["ErrorCode"], 0) + 1
                elif item.shard_id and result.get("ShardId") != item.shard_id:
                    misrouted.append(item)
                else:
                    self.kinesis_records += 1
                    self.stats.records += len(item.user_records)
                    self.stats.bytes += sum(len(data) for _, data in item.user_records)
            if not failed:
                return misrouted
            lost = sum(len(item.user_records) for item in failed)
            if attempt == self.max_attempts:
                msg = (f"{lost} records not accepted by {self.stream_name!r} after "
                       f"{self.max_attempts} attempts: {errors}")
                raise SinkError(msg)
            logger.warning("PutRecords: %d of %d records failed (%s); retrying them (attempt %d)",
                           len(failed), len(pending), errors, attempt + 1)
            if self.on_retry is not None:
                self.on_retry(attempt, [item.entry for item in failed], errors)
            time.sleep(self._backoff(attempt))
            self.stats.retried += lost
            pending = failed
        return misrouted
