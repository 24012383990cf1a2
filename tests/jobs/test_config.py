"""The job's configuration: flag > environment variable > config file > default, and clear errors."""

from __future__ import annotations

import json

import pytest

from jobs.bushfire.config import (
    OPTIONS,
    SourceKind,
    StartPosition,
    build_arg_parser,
    load_config,
    parse_duration_ms,
)
from jobs.bushfire.errors import ConfigError

ENV_THRESHOLD, ENV_WINDOW = "BUSHFIRE_THRESHOLD", "BUSHFIRE_WINDOW"
ENV_FLINK_OPTIONS = "BUSHFIRE_FLINK_OPTIONS"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("600000", 600_000),
        ("60s", 60_000),
        ("10min", 600_000),
        ("10m", 600_000),
        ("250ms", 250),
        ("2h", 7_200_000),
        ("1.5s", 1_500),
    ],
)
def test_durations_accept_milliseconds_and_units(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


def test_a_bad_duration_says_how_to_write_one() -> None:
    with pytest.raises(ValueError, match="10min"):
        parse_duration_ms("ten minutes")
    with pytest.raises(ConfigError, match="--window .*10min"):
        load_config(["--window", "ten minutes"], env={})


def test_defaults_are_the_alert_definition() -> None:
    cfg = load_config([], env={})
    assert (cfg.detection.threshold_c, cfg.detection.chain_length, cfg.detection.window_ms) == (
        50.0,
        5,
        600_000,
    )
    assert cfg.source.kind is SourceKind.FILES and not cfg.source.bounded
    assert not cfg.raw_events.enabled and cfg.alerts.sns_topic_arn is None


def test_flag_beats_environment_beats_file_beats_default(tmp_path) -> None:
    file = tmp_path / "job.json"
    file.write_text(json.dumps({"threshold": 60, "window": "5min", "chain-length": 4}))
    env = {ENV_THRESHOLD: "55", ENV_WINDOW: "60s"}
    cfg = load_config(["--config", str(file), "--threshold", "52.5"], env=env)
    assert cfg.detection.threshold_c == 52.5  # flag
    assert cfg.detection.window_ms == 60_000  # environment
    assert cfg.detection.chain_length == 4  # file
    assert cfg.detection.alert_dedupe_ttl_ms == 7 * 86_400_000  # default


def test_file_source_is_bounded_and_kinesis_options_are_read() -> None:
    cfg = load_config(["--source", "file", "--input", "x.jsonl"], env={})
    assert cfg.source.kind is SourceKind.FILE and cfg.source.bounded
    cfg = load_config(
        [
            "--source",
            "kinesis",
            "--kinesis-initpos",
            "at_timestamp",
            "--kinesis-initpos-timestamp",
            "1700000000",
            "--kinesis-efo-consumer",
            "bushfire",
            "--connector-jars",
            "a.jar, b.jar",
        ],
        env={},
    )
    assert cfg.source.kinesis.initpos is StartPosition.AT_TIMESTAMP
    assert cfg.source.kinesis.efo_consumer_name == "bushfire"
    assert cfg.runtime.connector_jars == ("a.jar", "b.jar")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "kinesis", "--bounded"], "Kinesis stream never ends"),
        (["--source", "s3"], "not one of: kinesis, files, file"),
        (["--chain-length", "1"], "at least 2"),
        (["--kinesis-initpos", "AT_TIMESTAMP"], "--kinesis-initpos-timestamp"),
        (["--opensearch-url", "http://x", "--opensearch-auth", "basic"], "--opensearch-user"),
        (["--crash-after-alerts", "3"], "--checkpoint-interval"),
    ],
)
def test_impossible_settings_are_rejected_with_what_to_change(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(argv, env={})


def test_unknown_config_file_keys_are_rejected(tmp_path) -> None:
    file = tmp_path / "job.json"
    file.write_text(json.dumps({"treshold": 60}))
    with pytest.raises(ConfigError, match="treshold"):
        load_config(["--config", str(file)], env={})


def test_flink_options_come_from_repeated_flags_lines_or_a_file_object_and_have_the_last_word(
    tmp_path,
) -> None:
    from jobs.bushfire.environment import flink_configuration

    flags = ["--flink-option", "rest.port=8089", "--flink-option", "parallelism.default = 3"]
    cfg = load_config(flags, env={})
    assert cfg.runtime.flink_options == (("rest.port", "8089"), ("parallelism.default", "3"))
    conf = flink_configuration(cfg.runtime)
    assert conf["rest.port"] == "8089" and conf["parallelism.default"] == "3"  # over the job's own 1

    env = {ENV_FLINK_OPTIONS: "state.backend.type=rocksdb\n\nrest.port=9000\n"}
    from_env = load_config([], env=env).runtime.flink_options
    assert from_env == (("state.backend.type", "rocksdb"), ("rest.port", "9000"))
    file = tmp_path / "job.json"
    file.write_text(json.dumps({"flink-option": {"rest.port": 9001}}))
    assert load_config(["--config", str(file)], env={}).runtime.flink_options == (("rest.port", "9001"),)


@pytest.mark.parametrize("item", ["rest.port", "=8089"])
def test_a_flink_option_without_key_and_value_is_rejected(item: str) -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(["--flink-option", item], env={})


def test_help_names_every_option_with_its_environment_variable() -> None:
    text = build_arg_parser().format_help()
    for option in OPTIONS:
        assert option.flag in text and option.env in text


def test_kinesis_properties_follow_the_connector_options() -> None:
    from jobs.bushfire.sources import kinesis_properties

    cfg = load_config(
        [
            "--source",
            "kinesis",
            "--kinesis-region",
            "ap-southeast-2",
            "--kinesis-initpos",
            "TRIM_HORIZON",
            "--kinesis-efo-consumer",
            "bushfire",
            "--kinesis-shard-idle",
            "30s",
        ],
        env={},
    )
    props = kinesis_properties(cfg.source.kinesis)
    assert props == {
        "aws.region": "ap-southeast-2",
        "flink.stream.initpos": "TRIM_HORIZON",
        "flink.shard.idle.interval": "30000",
        "flink.stream.recordpublisher": "EFO",
        "flink.stream.efo.consumername": "bushfire",
    }


@pytest.mark.parametrize("how", ["file", "module"])
def test_the_entry_point_runs_as_a_file_or_a_module_and_explains_every_flag(tmp_path, how: str) -> None:
    """`flink run -py jobs/bushfire/__main__.py` runs it as a file from anywhere; locally it is
    `python -m jobs.bushfire`. Both print the help (no JVM is started for it)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    if how == "file":
        command, cwd = [sys.executable, str(root / "jobs" / "bushfire" / "__main__.py")], tmp_path
    else:
        command, cwd = [sys.executable, "-m", "jobs.bushfire"], root

    def run(*flags: str) -> subprocess.CompletedProcess:
        return subprocess.run([*command, *flags], cwd=cwd, capture_output=True, text=True, timeout=60)

    shown = run("--help")
    assert shown.returncode == 0, shown.stderr
    assert all(option.flag in shown.stdout for option in OPTIONS)
    refused = run("--window", "ten")
    assert refused.returncode == 2 and "--window" in refused.stderr


def test_early_alerts_are_on_unless_turned_off_by_flag_or_environment() -> None:
    assert load_config([], env={}).detection.early_alerts is True
    assert load_config(["--no-early-alerts"], env={}).detection.early_alerts is False
    assert load_config([], env={"BUSHFIRE_EARLY_ALERTS": "false"}).detection.early_alerts is False
    assert load_config(["--early-alerts"], env={"BUSHFIRE_EARLY_ALERTS": "false"}).detection.early_alerts


def test_python_bundles_are_short_for_a_live_source_and_long_for_a_bounded_file() -> None:
    from jobs.bushfire.environment import flink_configuration

    live = flink_configuration(load_config(["--source", "files"], env={}).runtime)
    bounded = flink_configuration(load_config(["--source", "file"], env={}).runtime)
    assert int(live["python.fn-execution.bundle.time"]) <= 100
    assert int(bounded["python.fn-execution.bundle.time"]) >= 1_000


def test_kinesis_source_finds_the_pinned_connector_in_the_maven_cache(tmp_path):
    from jobs.bushfire.connector import ENV_MAVEN_REPO, KINESIS_CONNECTOR_JAR, kinesis_connector_jar

    env = {ENV_MAVEN_REPO: str(tmp_path)}
    assert load_config(["--source", "kinesis"], env=env).runtime.connector_jars == ()  # not fetched yet
    jar = kinesis_connector_jar(env)
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"jar")
    assert jar.name == KINESIS_CONNECTOR_JAR
    assert load_config(["--source", "kinesis"], env=env).runtime.connector_jars == (str(jar),)
    assert load_config(["--source", "files"], env=env).runtime.connector_jars == ()
    given = load_config(["--source", "kinesis", "--connector-jars", "/x.jar"], env=env)
    assert given.runtime.connector_jars == ("/x.jar",)  # a flag wins


def test_every_option_keeps_its_environment_variable_name() -> None:
    """The names users and deployments set; the declarations derive them, this pins them."""
    names = [
        "ALERTS_OUT", "ALERT_DEDUPE_TTL", "BOUNDED", "BULK_INTERVAL", "BULK_SIZE", "CHAIN_LENGTH",
        "CHECKPOINT_DIR", "CHECKPOINT_INTERVAL", "CONNECTOR_JARS", "CONSOLE", "CRASH_AFTER_ALERTS",
        "DEAD_LETTERS", "DEBUG", "EARLY_ALERTS", "EVENT_DEDUPE_TTL", "FLINK_OPTIONS", "IDLENESS",
        "INPUT", "KINESIS_EFO_CONSUMER", "KINESIS_ENDPOINT", "KINESIS_INITPOS",
        "KINESIS_INITPOS_TIMESTAMP", "KINESIS_REGION", "KINESIS_SHARD_IDLE", "KINESIS_STREAM",
        "LOG_FILE", "MAX_RUNTIME", "MONITOR_INTERVAL", "OPENSEARCH_AUTH", "OPENSEARCH_INDEX",
        "OPENSEARCH_PASSWORD", "OPENSEARCH_REGION", "OPENSEARCH_URL", "OPENSEARCH_USER",
        "OUT_OF_ORDERNESS", "PARALLELISM", "PARSER", "PROGRESS_INTERVAL", "PYTHON_EXECUTABLE",
        "PYTHON_WORKERS",
        "RESTORE_FROM", "RULES", "RULES_MIN_THRESHOLD", "SNS_ENDPOINT", "SNS_REGION",
        "SNS_TOPIC_ARN", "SOURCE", "THRESHOLD", "WATERMARK_INTERVAL", "WINDOW"
    ]  # fmt: skip
    assert sorted(option.env for option in OPTIONS) == [f"BUSHFIRE_{name}" for name in names]
    assert OPTIONS.config_env == "BUSHFIRE_CONFIG"


def test_an_empty_path_means_no_file_from_a_flag_or_the_environment() -> None:
    assert load_config(["--alerts-out", ""], env={}).alerts.alerts_out is None
    assert load_config([], env={"BUSHFIRE_LOG_FILE": ""}).runtime.log_file is None
    assert load_config([], env={}).alerts.alerts_out == "out/alerts.jsonl"


class _StateCounting:
    """A runtime context that records the keyed states a function declares (and ignores metrics)."""

    def __init__(self) -> None:
        self.states: list[str] = []

    def get_state(self, descriptor):
        self.states.append(descriptor.name)

    def get_map_state(self, descriptor):
        self.states.append(descriptor.name)

    def get_metrics_group(self):
        return self

    def add_group(self, name):
        return self

    def counter(self, name):
        return None

    def gauge(self, name, read):
        return None


def test_pyflink_state_cache_holds_every_state_of_every_key_the_cep_step_keeps_in_memory() -> None:
    """Past `python.state.cache-size` entries (one per state per key) PyFlink evicts a key's state on
    each change of key and waits for its write: the job sizes it for the keys the CEP step remembers."""
    from cep.flink.operator import KEYS_IN_MEMORY
    from jobs.bushfire import functions, patterns
    from jobs.bushfire.environment import PYTHON_STATE_CACHE_ENTRIES, flink_configuration

    cfg = load_config([], env={})
    stages = patterns.stage_names(cfg.detection.chain_length)
    step = functions.CheckAndDetect(
        "bushfire-cep", 3_600_000, patterns.fire_chain(cfg.detection),
        functions.AlertOncePerPath(stages, 3_600_000), early_results=True,
    )  # fmt: skip
    context = _StateCounting()
    step.open(context)
    assert len(set(context.states)) == len(context.states) == 5, context.states
    assert len(context.states) * KEYS_IN_MEMORY <= PYTHON_STATE_CACHE_ENTRIES
    assert flink_configuration(cfg.runtime)["python.state.cache-size"] == str(PYTHON_STATE_CACHE_ENTRIES)
    flags = ["--flink-option", "python.state.cache-size=500"]  # the user's value still wins
    assert flink_configuration(load_config(flags, env={}).runtime)["python.state.cache-size"] == "500"


def test_python_workers_run_in_processes_when_subtasks_could_use_more_than_one_core() -> None:
    from jobs.bushfire.environment import python_worker_mode

    def mode(argv: list[str], local: bool = True):
        return python_worker_mode(load_config(argv, env={}).runtime, local)

    assert mode([]) is None  # PyFlink's own local default: loopback, in the client process
    assert mode(["--parallelism", "2"]) == "process"
    assert mode(["--parallelism", "2", "--python-workers", "loopback"]) == "loopback"
    assert mode(["--python-workers", "process"]) == "process"
    assert mode(["--parallelism", "2"], local=False) is None  # a cluster always runs worker processes
    with pytest.raises(ConfigError, match="local run only"):
        mode(["--python-workers", "loopback"], local=False)
