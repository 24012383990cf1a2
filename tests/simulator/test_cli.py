"""`python -m simulator ...` end to end, in subprocesses."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import orjson

from simulator import SimulationConfig, simulate
from simulator.cli import emit, main
from simulator.options import config_from_args, parse_args, parse_rate
from simulator.sinks import StdoutSink
from tests.simulator.conftest import read_stream

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--regions", "2", "--nodes-per-region", "16", "--minutes", "12", "--ignitions-per-region", "1"]


def sim(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EMBERWATCH_SIM_")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "simulator", *args], cwd=ROOT, env=full_env,
                          capture_output=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def lines(proc: subprocess.CompletedProcess) -> list:
    return [orjson.loads(line) for line in proc.stdout.splitlines()]


def summary(proc: subprocess.CompletedProcess) -> dict:
    return orjson.loads(proc.stderr.splitlines()[-1])


def test_blog_11_to_stdout_with_truth(tmp_path):
    truth = tmp_path / "truth.json"
    proc = sim("--preset", "blog-11", "--truth", str(truth))
    assert lines(proc) == list(simulate(SimulationConfig.blog_11()).events())
    doc = orjson.loads(truth.read_bytes())
    assert doc["paths"] == [{"region": "blog", "path": ["1", "2", "3", "4", "5"]}]
    assert [(n["node"], n["infectedBy"], n["step"]) for n in doc["infection_tree"]] == [
        ("1", "1", 1), ("2", "1", 2), ("3", "2", 3), ("4", "3", 4), ("5", "4", 5)]
    assert summary(proc)["paths"] == 1 and summary(proc)["records"] == 88


def test_same_seed_same_records_other_seed_other_records():
    a, b = sim(*SMALL, "--seed", "3"), sim(*SMALL, "--seed", "3")
    c = sim(*SMALL, "--seed", "4")
    assert a.stdout == b.stdout and a.stdout != c.stdout
    assert len(lines(a)) == 2 * 16 * 12


def test_environment_variables_are_fallbacks_for_flags():
    proc = sim("--preset", "blog-11", "--quiet", env={"EMBERWATCH_SIM_MINUTES": "3"})
    assert len(lines(proc)) == 33 and proc.stderr == b""
    proc = sim("--preset", "blog-11", "--minutes", "4", env={"EMBERWATCH_SIM_MINUTES": "3",
                                                              "EMBERWATCH_SIM_QUIET": "1"})
    assert len(lines(proc)) == 44


def test_file_sink_and_truth_match_the_library(tmp_path):
    out, truth = tmp_path / "events.jsonl", tmp_path / "truth.json"
    proc = sim(*SMALL, "--seed", "9", "--sink", "file", "--out", str(out), "--truth", str(truth),
               "--chain-length", "3")
    cfg = SimulationConfig().replace(seed=9, minutes=12)
    cfg = cfg.replace(topology=cfg.topology.__class__(regions=2, nodes_per_region=16),
                      fire=cfg.fire.__class__(ignitions_per_region=1.0))
    expected = simulate(cfg)
    assert [orjson.loads(x) for x in out.read_bytes().splitlines()] == list(expected.events())
    doc = orjson.loads(truth.read_bytes())
    assert {(p["region"], tuple(p["path"])) for p in doc["paths"]} == expected.truth(chain_length=3)
    assert doc["stats"]["paths"] == summary(proc)["paths"] and doc["chain_length"] == 3


def test_faults_from_flags_reach_the_output(tmp_path):
    out = tmp_path / "events.jsonl"
    truth = tmp_path / "truth.json"
    sim(*SMALL, "--sink", "file", "--out", str(out), "--drop-rate", "0.3", "--malformed-rate", "0.05",
        "--duplicate-rate", "0.05", "--truth", str(truth))
    raw = out.read_bytes().splitlines()
    bad = 0
    for line in raw:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        bad += not {"event_id", "node", "ts", "temperature", "infectedBy"} <= set(value)
    assert bad > 0
    assert len(raw) < 2 * 16 * 12 * 0.85
    assert orjson.loads(truth.read_bytes())["records_sent"] == len(raw)


def test_dir_sink_writes_complete_rolling_files(tmp_path):
    out = tmp_path / "incoming"
    sim("--preset", "blog-11", "--sink", "dir", "--out", str(out), "--records-per-file", "20",
        "--drop-rate", "0")
    files = sorted(out.iterdir())
    assert [p.name for p in files] == [f"events-{i:06d}.jsonl" for i in range(1, 6)]
    assert sum(len(p.read_bytes().splitlines()) for p in files) == 88


def test_random_and_file_topologies(tmp_path):
    proc = sim("--topology", "random", "--regions", "1", "--nodes-per-region", "30", "--minutes", "2",
               "--radius", "0.3")
    assert len(lines(proc)) == 60
    topo = tmp_path / "net.json"
    topo.write_bytes(orjson.dumps({
        "nodes": [{"id": "a", "region": "hill", "lat": -33.7, "lon": 150.3},
                  {"id": "b", "region": "hill", "lat": -33.701, "lon": 150.3}],
        "edges": [["a", "b"]],
    }))
    proc = sim("--topology", "file", "--topology-file", str(topo), "--minutes", "3")
    assert {(e["node"], e["region"]) for e in lines(proc)} == {("a", "hill"), ("b", "hill")}


def test_max_events_and_dry_run():
    proc = sim("--preset", "demo", "--max-events", "10")
    assert len(proc.stdout.splitlines()) == 10
    proc = sim("--preset", "blog-11", "--sink", "kinesis", "--stream", "nowhere", "--dry-run",
               "--max-events", "5")
    assert len(lines(proc)) == 5 and b"dry run" in proc.stderr


def test_rate_paces_event_time():
    # In-process, so interpreter start-up does not blur the timing; pacing can only add time.
    blog = simulate(SimulationConfig.blog_11())
    events = list(blog.events())
    span_s = (events[-1]["ts"] - events[0]["ts"]) / 1000
    started = time.monotonic()
    sent = emit(blog, StdoutSink(io.BytesIO()), speedup=1200.0)
    assert sent == 88 and time.monotonic() - started >= span_s / 1200 * 0.95
    assert parse_rate("realtime") == 1.0 and parse_rate("x60") == 60.0 and parse_rate("asap") is None


def test_bad_options_give_one_clear_line(capsys):
    proc = sim("--sink", "file", check=False)
    assert proc.returncode == 2 and proc.stderr == b"emberwatch-sim: error: --sink file needs --out PATH\n"
    for args, message in [
        (["--preset", "blog-11", "--regions", "3"], "blog-11 has a fixed network"),
        (["--rate", "fast"], "--rate 'fast': use realtime, asap or xN"),
        (["--drop-rate", "2"], "--drop-rate must be between 0 and 1"),
        (["--topology", "file"], "--topology file needs --topology-file PATH"),
    ]:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("emberwatch-sim: error:") and message in err, err


def test_render_writes_a_self_contained_page(tmp_path):
    page = tmp_path / "fire.html"
    sim("--preset", "blog-11", "--quiet", "--render", str(page))
    text = page.read_text(encoding="utf-8")
    assert text.count("<circle") == 11 and 'id="step"' in text
    assert "Alerted paths in these regions (1)" in text and '"paths":[["1","2","3","4","5"]]' in text
    assert "<script src" not in text and "http://" not in text and "https://" not in text


def test_kinesis_sink_from_the_cli(kinesis_endpoint):
    proc = sim("--preset", "blog-11", "--sink", "kinesis", "--stream", "sim-cli", "--create-stream", "1",
               "--endpoint-url", kinesis_endpoint, "--aws-region", "us-east-1")
    assert summary(proc)["records"] == 88
    client = boto3.client("kinesis", endpoint_url=kinesis_endpoint, region_name="us-east-1")
    arrived = [orjson.loads(data) for _, _, data in read_stream(client, "sim-cli")]
    assert sorted(arrived, key=lambda e: e["ts"]) == list(simulate(SimulationConfig.blog_11()).events())
    client.delete_stream(StreamName="sim-cli")


def test_iot_sink_from_the_cli(moto_endpoint):
    proc = sim("--preset", "blog-11", "--max-events", "12", "--sink", "iot", "--topic", "fire/{node}",
               "--endpoint-url", moto_endpoint, "--aws-region", "us-east-1")
    assert summary(proc)["records"] == 12


def test_truth_file_of_a_faulty_run_is_the_library_truth(tmp_path):
    args = ["--preset", "demo", "--seed", "21", "--sink", "file", "--out", str(tmp_path / "e.jsonl"),
            "--truth", str(tmp_path / "truth.json"), "--quiet"]
    assert main(args) == 0
    expected = simulate(config_from_args(parse_args(args, env={})))
    assert expected.config.faults.any
    doc = orjson.loads((tmp_path / "truth.json").read_bytes())
    assert {(p["region"], tuple(p["path"])) for p in doc["paths"]} == expected.truth()
    assert doc["records_sent"] == len(list(expected.delivered()))
    tree = expected.infection_tree()
    assert {n["node"]: n["infectedBy"] for n in doc["infection_tree"]} == {
        n: v["infectedBy"] for n, v in tree.items()}


def test_a_reader_that_leaves_early_ends_the_run_quietly():
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBERWATCH_SIM_")}
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--preset", "benchmark", "--quiet"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=60)
    assert orjson.loads(first)["event_id"].endswith(":0")
    assert proc.returncode == 0 and err == b""


def test_every_documented_environment_variable_sets_its_option(tmp_path):
    """The names simulator/config.py once listed as ENV_* constants, which nothing read back then."""
    env = {
        "EMBERWATCH_SIM_PRESET": "demo", "EMBERWATCH_SIM_TOPOLOGY": "random",
        "EMBERWATCH_SIM_TOPOLOGY_FILE": "net.json", "EMBERWATCH_SIM_REGIONS": "3",
        "EMBERWATCH_SIM_NODES_PER_REGION": "20", "EMBERWATCH_SIM_MINUTES": "7", "EMBERWATCH_SIM_SEED": "11",
        "EMBERWATCH_SIM_SINK": "kinesis", "EMBERWATCH_SIM_OUT": "o.jsonl", "EMBERWATCH_SIM_TRUTH": "t.json",
        "EMBERWATCH_SIM_STREAM": "readings", "EMBERWATCH_SIM_TOPIC": "t/{node}",
        "EMBERWATCH_SIM_ENDPOINT_URL": "http://127.0.0.1:1", "EMBERWATCH_SIM_RATE": "x60",
        "EMBERWATCH_SIM_MAX_EVENTS": "500",
    }  # fmt: skip
    args = parse_args([], env=env)
    assert (args.preset, args.topology, args.topology_file, args.regions, args.nodes_per_region) == (
        "demo", "random", "net.json", 3, 20)
    assert (args.minutes, args.seed, args.sink) == (7, 11, "kinesis")
    assert (args.out, args.truth) == ("o.jsonl", "t.json")
    assert (args.stream, args.topic, args.endpoint_url) == ("readings", "t/{node}", "http://127.0.0.1:1")
    assert (parse_rate(args.rate), args.max_events) == (60.0, 500)
    cfg = config_from_args(args)
    assert (cfg.topology.regions, cfg.minutes, cfg.seed, cfg.faults.any) == (3, 7, 11, True)  # demo's faults


def test_flags_beat_the_environment_which_beats_a_config_file_which_beats_the_preset(tmp_path):
    file = tmp_path / "sim.json"
    file.write_text('{"preset": "demo", "minutes": 9, "seed": 5, "no-faults": true, "delay_rate": 0.2}')
    args = parse_args(["--config", str(file), "--seed", "6"],
                      env={"EMBERWATCH_SIM_MINUTES": "8", "EMBERWATCH_SIM_DRY_RUN": "1"})
    cfg = config_from_args(args)
    assert (cfg.seed, cfg.minutes) == (6, 8)  # flag, environment
    assert cfg.topology.regions == 4 and cfg.faults.delay_rate == 0.2 and cfg.faults.drop_rate == 0  # file
    assert args.dry_run is True and args.quiet is False
    same = parse_args([], env={"EMBERWATCH_SIM_CONFIG": str(file)})
    assert same.preset == "demo" and same.minutes == 9


def test_a_bad_environment_value_is_a_one_line_error_naming_the_variable():
    proc = sim("--preset", "blog-11", env={"EMBERWATCH_SIM_MINUTES": "lots"}, check=False)
    assert proc.returncode == 2
    assert b"emberwatch-sim: error: --minutes (from env EMBERWATCH_SIM_MINUTES)" in proc.stderr
    assert b"Traceback" not in proc.stderr
