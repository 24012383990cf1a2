"""The Kinesis soak's input (`bench/soak_kinesis.py`): what it puts is byte for byte what the file soak
feeds (so the producer's truth holds for it), and its end-of-feed flush reaches every shard."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_kinesis import feed_records, flush_regions
from soak_stream import delivered_lines, soak_config

from simulator import encode
from simulator.sinks.kpl import Shard, ShardMap

TOP = 2**128 - 1


def test_a_feed_file_becomes_records_whose_wire_form_is_the_files_lines():
    cfg = soak_config(rate=600, minutes=1, speedup=10, seed=5)
    lines = [line for line, _bad, _hot in delivered_lines(cfg)]
    malformed = sum(bad for _line, bad, _hot in delivered_lines(cfg))
    records = feed_records(b"".join(lines))
    assert b"".join(encode(record) + b"\n" for record in records) == b"".join(lines)
    assert sum(isinstance(r, bytes) for r in records) == malformed > 0  # kept raw: the job's dead letters
    assert all(isinstance(r["region"], str) for r in records if isinstance(r, dict))  # the partition key


def test_a_carriage_return_inside_a_line_does_not_split_it():
    # The job splits files at \n only; so must the feed, or a garbled line would become two records.
    records = feed_records(b'{"oops\r": 1\n' + b"not json\n")
    assert records == [b'{"oops\r": 1', b"not json"]


def test_the_flush_regions_land_one_in_each_shard_even_and_after_a_split():
    even = ShardMap([Shard(f"shard-{i}", i * (TOP + 1) // 4, (i + 1) * (TOP + 1) // 4 - 1) for i in range(4)])
    split = ShardMap([Shard("a", 0, TOP // 2), Shard("b", TOP // 2 + 1, TOP // 2 + TOP // 64),
                      Shard("c", TOP // 2 + TOP // 64 + 1, TOP)])  # fmt: skip  (b is a narrow shard)
    for shard_map in (even, split):
        regions = flush_regions(shard_map)
        assert [shard_map.shard_for(r).shard_id for r in regions] == [s.shard_id for s in shard_map.shards]
        assert len(set(regions)) == len(regions)
