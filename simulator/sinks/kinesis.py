"""Kinesis Data Streams sink: PutRecords in batches, re-sending only the records that failed."""

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

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

logger = logging.getLogger(__name__)

MAX_RECORDS_PER_CALL = 500  # PutRecords: at most 500 records per request
MAX_BYTES_PER_CALL = 5 * 1024 * 1024  # ... and 5 MiB per request (data + partition keys)
MAX_RECORD_BYTES = 1024 * 1024  # ... and 1 MiB per record (the default stream limit)
MALFORMED_PARTITION_KEY = "malformed"

RetryHook = Callable[[int, list[dict], dict[str, int]], None]


class KinesisSink(Sink):
    """Send records to a Kinesis stream with `put_records`, partition key = the record's node.

    Records are buffered into batches within the PutRecords limits. A response may report some
    records failed (throttling, internal errors); only those are sent again, after an exponential
    backoff with full jitter, up to `max_attempts` times; then `SinkError` names what was lost.
    Retries change the order only among records of one batch; consumers order by event time.

    Parameters
    ----------
    stream_name : the stream to write to
    boto3_client, boto3_session, config, endpoint_url : how to get the client (see `build_client`)
    max_attempts : attempts per record, first send included
    base_backoff_s, max_backoff_s : the backoff before retry n is uniform in [0, min(max, base * 2**n)]
    max_record_bytes : data + partition key limit per record (raise it for streams configured for more)
    on_retry : called as `on_retry(attempt, failed_entries, error_counts)` before each re-send
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
    ) -> None:
        super().__init__()
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
        self._rng = random.Random(seed)
        self._batch: list[dict] = []
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
            node = record.get("node") if isinstance(record, dict) else None
            key = node if isinstance(node, str) and node else MALFORMED_PARTITION_KEY
            size = len(data) + len(key.encode())
            if size > self.max_record_bytes:
                msg = (f"record of {size} bytes exceeds the {self.max_record_bytes}-byte Kinesis record "
                       "limit; raise the stream's max record size and pass max_record_bytes")
                raise SinkError(msg)
            if len(self._batch) >= MAX_RECORDS_PER_CALL or self._batch_bytes + size > MAX_BYTES_PER_CALL:
                self.flush()
            self._batch.append({"Data": data, "PartitionKey": key})
            self._batch_bytes += size

    def flush(self) -> None:
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            self._put(batch)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0.0, min(self.max_backoff_s, self.base_backoff_s * 2 ** attempt))

    def _put(self, entries: list[dict]) -> None:
        pending = entries
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.put_records(StreamName=self.stream_name, Records=pending)
            except (ClientError, BotoCoreError) as exc:
                msg = f"PutRecords to {self.stream_name!r} failed for {len(pending)} records: {exc}"
                raise SinkError(msg) from exc
            self.stats.calls += 1
            failed = [e for e, r in zip(pending, response["Records"]) if r.get("ErrorCode")]
            errors: dict[str, int] = {}
            for r in response["Records"]:
                if r.get("ErrorCode"):
                    errors[r["ErrorCode"]] = errors.get(r["ErrorCode"], 0) + 1
            sent = [e for e, r in zip(pending, response["Records"]) if not r.get("ErrorCode")]
            self.stats.records += len(sent)
            self.stats.bytes += sum(len(e["Data"]) for e in sent)
            if not failed:
                return
            if attempt == self.max_attempts:
                msg = (f"{len(failed)} records not accepted by {self.stream_name!r} after "
                       f"{self.max_attempts} attempts: {errors}")
                raise SinkError(msg)
            logger.warning("PutRecords: %d of %d records failed (%s); retrying them (attempt %d)",
                           len(failed), len(pending), errors, attempt + 1)
            if self.on_retry is not None:
                self.on_retry(attempt, failed, errors)
            time.sleep(self._backoff(attempt))
            self.stats.retried += len(failed)
            pending = failed
