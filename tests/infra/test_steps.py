"""The job's EMR steps: the template's optional job step and the CLI's `submit` run the same command."""

from __future__ import annotations

import re

from infra import steps
from infra.stack import TEMPLATE_PATH
from jobs.bushfire import connector
from tests.infra.iam_rules import load_template

VALUES = {
    "SensorStream": "ew-SensorStream-ABC",
    "AWS::Region": "ap-southeast-2",
    "AlertTopic": "arn:aws:sns:ap-southeast-2:111122223333:ew-AlertTopic-XYZ",
    "SearchDomain.DomainEndpoint": "search-emberwatch-abc.ap-southeast-2.es.amazonaws.com",
    "RawIndexName": "sensor-readings",
    "Bucket": "ew-bucket-123",
    "ArtifactKey": "artifacts/emberwatch-0.1.0-0123456789ab.zip",
}


def _sub(text: str, values: dict[str, str]) -> str:
    """Fn::Sub for plain ${Name} references; an unknown name fails the test (a new template input)."""
    return re.sub(r"\$\{([^}!]+)\}", lambda m: values[m.group(1)], text)


def _template_steps() -> dict:
    template = load_template(TEMPLATE_PATH)
    return template, {
        k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::EMR::Step"
    }


def _settings(job_args: list[str]) -> steps.JobSettings:
    return steps.JobSettings(
        stream=VALUES["SensorStream"],
        region=VALUES["AWS::Region"],
        topic_arn=VALUES["AlertTopic"],
        opensearch_url="https://" + VALUES["SearchDomain.DomainEndpoint"],
        index=VALUES["RawIndexName"],
        bucket=VALUES["Bucket"],
        extra_args=tuple(job_args),
    )


def test_template_job_step_runs_the_same_command_as_submit() -> None:
    template, emr_steps = _template_steps()
    job_args = template["Parameters"]["JobArguments"]["Default"].split(",")
    split = emr_steps["BushfireJobStep"]["HadoopJarStep"]["Args"]["Fn::Split"]
    delimiter, (text, extra) = split[0], split[1]["Fn::Sub"]
    assert extra == {"Extra": {"Fn::Join": [delimiter, {"Ref": "JobArguments"}]}}
    rendered = _sub(text, {**VALUES, "Extra": delimiter.join(job_args)}).split(delimiter)
    assert rendered == steps.start_job_args(_settings(job_args))


def test_template_fetch_step_copies_the_package_where_submit_does() -> None:
    _, emr_steps = _template_steps()
    args = [a if isinstance(a, str) else _sub(a["Fn::Sub"], VALUES) for a in emr_steps["FetchPackageStep"]
            ["HadoopJarStep"]["Args"]]  # fmt: skip
    fetch, _ = steps.submit_steps(_settings([]), VALUES["ArtifactKey"])
    assert args == fetch["HadoopJarStep"]["Args"]
    assert {s["HadoopJarStep"]["Jar"] for s in emr_steps.values()} == {steps.COMMAND_RUNNER}


def test_resuming_puts_the_savepoint_before_the_python_options() -> None:
    command = steps.flink_run_command(_settings([]), from_savepoint="s3://b/savepoints/savepoint-1")
    assert command[command.index("--fromSavepoint") + 1] == "s3://b/savepoints/savepoint-1"
    assert command.index("--fromSavepoint") < command.index("-pym")


def test_the_cluster_configuration_points_state_at_the_bucket() -> None:
    template = load_template(TEMPLATE_PATH)
    (flink_conf,) = template["Resources"]["FlinkCluster"]["Properties"]["Configurations"]
    props = flink_conf["ConfigurationProperties"]
    assert flink_conf["Classification"] == "flink-conf"
    assert _sub(props["state.checkpoints.dir"]["Fn::Sub"], VALUES) == _settings([]).checkpoint_dir
    assert _sub(props["state.savepoints.dir"]["Fn::Sub"], VALUES) == _settings([]).savepoint_dir
    assert props["python.executable"] == steps.PYTHON


def test_bootstrap_fetches_the_connector_jar_the_steps_use() -> None:
    bootstrap = (TEMPLATE_PATH.parent.parent / "emr" / "bootstrap.sh").read_text()
    version = re.search(r"^CONNECTOR_VERSION=(\S+)$", bootstrap, re.M).group(1)
    assert steps.CONNECTOR_JAR.endswith(f"/flink-sql-connector-kinesis-{version}.jar")
    assert steps.CONNECTOR_JAR.endswith(f"/{connector.KINESIS_CONNECTOR_JAR}")
    assert version == connector.KINESIS_CONNECTOR_VERSION
    pinned = re.search(r"^CONNECTOR_SHA256=(\S+)$", bootstrap, re.M).group(1)
    assert pinned == connector.KINESIS_CONNECTOR_SHA256, "bootstrap and the job pin the same jar"
    assert 'EXPECTED_SHA256="${2:-$CONNECTOR_SHA256}"' in bootstrap and "sha256sum --check" in bootstrap


def test_bootstrap_links_the_packaged_parser_jar_the_steps_put_on_the_class_path() -> None:
    from jobs.bushfire import parser_jar

    bootstrap = (TEMPLATE_PATH.parent.parent / "emr" / "bootstrap.sh").read_text()
    command = steps.flink_run_command(_settings([]))
    assert command[command.index("-C") + 1] == f"file://{steps.PARSER_JAR}"
    assert f'parser_jar="$PREFIX/app/jobs/bushfire/jvm/{parser_jar.JAR_NAME}"' in bootstrap
    assert f'ln -sf "$parser_jar" "$PREFIX/lib/{steps.PARSER_JAR.rsplit("/", 1)[1]}"' in bootstrap
    assert "javac" not in bootstrap  # the nodes compile nothing
