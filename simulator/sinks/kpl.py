"""Pack records into KPL aggregated Kinesis records, one aggregate per shard, as the Kinesis Producer
Library does for a high-rate producer.

The format (a magic prefix, a protobuf `AggregatedRecord` of user records with their partition keys,
an MD5 digest) comes from `aws-kinesis-agg` (awslabs). Consumers built on the KCL's de-aggregation,
Flink's Kinesis connector among them, drop *every* user record of an aggregate when one of its user
records' partition keys hashes outside the shard the aggregate was read from. So an aggregate only ever
holds user records of one shard: each key is hashed (MD5, as Kinesis does) onto the stream's open shards,
and the aggregate is put with the shard's starting hash key as its explicit hash key.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass, field

MAX_PARTITION_KEY_BYTES = 256  # a Kinesis partition key is at most 256 characters


class AggregationUnavailable(ImportError):
    """aws-kinesis-agg is not installed."""


class ShardMapError(RuntimeError):
    """The listed shards do not cover a partition key (the stream is being resharded, or has none open)."""


class RecordTooBig(ValueError):
    """One user record alone does not fit in an aggregate of the size limit."""


def agg_record_class() -> type:
    """awslabs' `AggRecord` (one aggregated record being filled); AggregationUnavailable says how to
    install it."""
    try:
        from aws_kinesis_agg.aggregator import AggRecord
    except ImportError as exc:  # an optional extra: say how to get it
        raise AggregationUnavailable(
            "KPL aggregation needs aws-kinesis-agg: pip install 'emberwatch[kpl]'"
        ) from exc
    return AggRecord


def hash_key(partition_key: str) -> int:
    """The 128-bit hash key Kinesis gives a partition key (MD5 as a big-endian number)."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


@dataclass
class Shard:
    """An open shard and the hash keys it takes."""

    shard_id: str
    start: int
    end: int


class ShardMap:
    """Which open shard a partition key goes to."""

    def __init__(self, shards: list[Shard]) -> None:
        if not shards:
            raise ShardMapError("the stream has no open shard")
        self.shards = sorted(shards, key=lambda s: s.start)
        self._starts = [s.start for s in self.shards]

    @classmethod
    def from_list_shards(cls, listed: list[dict]) -> ShardMap:
        """From `ListShards` entries; closed shards (with an ending sequence number) take no writes."""
        return cls([
            Shard(s["ShardId"], int(s["HashKeyRange"]["StartingHashKey"]),
                  int(s["HashKeyRange"]["EndingHashKey"]))
            for s in listed if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})
        ])

    def shard_for(self, partition_key: str) -> Shard:
        key = hash_key(partition_key)
        shard = self.shards[max(0, bisect_right(self._starts, key) - 1)]
        if not shard.start <= key <= shard.end:
            raise ShardMapError(f"no open shard takes hash key {key} (is the stream being resharded?)")
        return shard


@dataclass
class Aggregate:
    """One aggregated Kinesis record: the PutRecords entry and the user records inside it."""

    shard_id: str
    entry: dict
    user_records: list[tuple[str, bytes]] = field(default_factory=list)


class KplPacker:
    """Collects user records per shard and hands out aggregates of at most `max_bytes` (data plus the
    aggregate's partition key, the Kinesis record limit)."""

    def __init__(self, shard_map: ShardMap, max_bytes: int) -> None:
        self.shard_map = shard_map
        self.max_data_bytes = max_bytes - MAX_PARTITION_KEY_BYTES
        self._agg_record = agg_record_class()
        self._open: dict[str, tuple[Shard, object, list[tuple[str, bytes]]]] = {}

    def add(self, partition_key: str, data: bytes) -> list[Aggregate]:
        """Add one user record; returns the aggregate it filled, if any (then it starts a new one).

        Raises RecordTooBig when the record alone is over the limit."""
        shard = self.shard_map.shard_for(partition_key)
        if shard.shard_id not in self._open:
            self._open[shard.shard_id] = (shard, self._agg_record(self.max_data_bytes), [])
        _, record, members = self._open[shard.shard_id]
        try:
            added = record.add_user_record(partition_key, data)
        except ValueError as exc:  # the library's "too big to fit inside a single agg record"
            raise RecordTooBig(str(exc)) from None
        if added:
            members.append((partition_key, data))
            return []
        full = self._close(shard.shard_id)
        self.add(partition_key, data)
        return [full]

    def has_open(self) -> bool:
        return bool(self._open)

    def drain(self) -> list[Aggregate]:
        """Every aggregate still open, partly filled."""
        return [self._close(shard_id) for shard_id in list(self._open)]

    def _close(self, shard_id: str) -> Aggregate:
        shard, record, members = self._open.pop(shard_id)
        partition_key, _, data = record.get_contents()
        entry = {"Data": data, "PartitionKey": partition_key, "ExplicitHashKey": str(shard.start)}
        return Aggregate(shard_id, entry, members)
