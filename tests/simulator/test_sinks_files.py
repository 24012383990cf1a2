"""stdout, JSONL file and rolling-directory sinks."""

from __future__ import annotations

import io
import threading
import time

import orjson

from simulator import SimulationConfig, decode_line, encode, simulate
from simulator.sinks import JsonlFileSink, RollingDirectorySink, StdoutSink


def demo_records() -> list:
    return list(simulate(SimulationConfig.demo()).delivered())


def test_stdout_sink_writes_one_record_per_line():
    records = demo_records()
    out = io.BytesIO()
    with StdoutSink(out) as sink:
        sink.write(records)
    lines = out.getvalue().splitlines()
    assert lines == [encode(r) for r in records]
    assert [decode_line(line) for line in lines] == records
    assert sink.stats.records == len(records)


def test_file_sink_round_trips(tmp_path):
    records = demo_records()
    path = tmp_path / "sub" / "events.jsonl"
    with JsonlFileSink(path) as sink:
        sink.write(records[:1000])
        sink.write(records[1000:])
    assert [decode_line(line) for line in path.read_bytes().splitlines()] == records


def test_rolling_dir_completes_files_atomically_while_a_reader_watches(tmp_path):
    records = demo_records()
    last = f"events-{-(-len(records) // 100):06d}.jsonl"  # the only file allowed fewer than 100 lines
    seen_incomplete: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for path in tmp_path.iterdir():
                if path.name.startswith("."):
                    continue
                lines = path.read_bytes().splitlines()
                if len(lines) != 100 and path.name != last:
                    seen_incomplete.append(f"{path.name}: {len(lines)} lines")
            time.sleep(0.0005)  # let the writer run between looks

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with RollingDirectorySink(tmp_path, records_per_file=100, roll_interval_s=None) as sink:
            for i in range(0, len(records), 37):
                sink.write(records[i:i + 37])
    finally:
        done.set()
        watcher.join()
    assert not seen_incomplete
    files = sorted(tmp_path.iterdir())
    assert all(not p.name.startswith(".") for p in files), "no temporary file is left behind"
    assert [p.name for p in files] == [f"events-{i:06d}.jsonl" for i in range(1, len(files) + 1)]
    back = [decode_line(line) for p in files for line in p.read_bytes().splitlines()]
    assert back == records
    assert len(files) == -(-len(records) // 100)


def test_rolling_dir_rolls_on_time_too(tmp_path):
    with RollingDirectorySink(tmp_path, records_per_file=10_000, roll_interval_s=0.0) as sink:
        sink.write([{"n": 1}])
        sink.write([{"n": 2}])
    files = sorted(tmp_path.iterdir())
    assert [orjson.loads(p.read_bytes()) for p in files] == [{"n": 1}, {"n": 2}]


def test_fast_jsonl_path_into_rolling_dir(tmp_path):
    sim = simulate(SimulationConfig.preset("blog-11"))
    with RollingDirectorySink(tmp_path, records_per_file=30, roll_interval_s=None) as sink:
        for chunk in sim.jsonl_chunks():
            sink.write_jsonl(chunk, 11)
    back = [orjson.loads(line) for p in sorted(tmp_path.iterdir()) for line in p.read_bytes().splitlines()]
    assert back == list(sim.events())
