"""EMR steps that run, stop and restart the bushfire job, and the waits between them.

All steps go through `command-runner.jar` on the primary node. The job runs in YARN per-job mode
(`flink run --target yarn-per-job --detached`), so the step finishes once the job is submitted and the
job keeps running in its own YARN application, named so that `savepoint.sh` can find it again and
`start_job.sh` can refuse to start a second one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from infra.errors import DeployError

logger = logging.getLogger(__name__)

COMMAND_RUNNER = "command-runner.jar"
YARN_APP_NAME = "emberwatch-bushfire"
PREFIX = "/opt/emberwatch"
PYTHON = f"{PREFIX}/venv/bin/python3"
# The version bootstrap.sh and jobs/bushfire/connector.py pin (tests/infra/test_steps.py checks all three).
CONNECTOR_JAR = f"{PREFIX}/lib/flink-sql-connector-kinesis-4.0.0-1.16.jar"
# The job's PARSE_READING UDF, shipped in the package and linked by the bootstrap action on every node:
# on the client's class path (-C) so that Flink can compile the SQL operators while it builds the job
# graph (FLINK-28897).
PARSER_JAR = f"{PREFIX}/lib/emberwatch-parse-reading.jar"
LOCAL_PACKAGE = "/home/hadoop/emberwatch/emberwatch-job.zip"
SAVEPOINT_SCRIPT = f"{PREFIX}/bin/savepoint.sh"
START_SCRIPT = f"{PREFIX}/bin/start_job.sh"  # refuses to start a second copy of the job
# Written by the bootstrap action on every node: the job's local alert log and dead letters.
NODE_DATA_DIR = "/var/lib/emberwatch"
CHECKPOINT_INTERVAL = "60s"
# A long-running job is submitted detached: the step takes about a minute; savepoints take longer.
STEP_WAIT = {"Delay": 15, "MaxAttempts": 120}


@dataclass(frozen=True)
class JobSettings:
    """Where the job reads and writes (from the stack outputs) and how it starts."""

    stream: str
    region: str
    topic_arn: str
    opensearch_url: str
    index: str
    bucket: str
    initpos: str = "LATEST"
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def checkpoint_dir(self) -> str:
        return f"s3://{self.bucket}/checkpoints"

    @property
    def savepoint_dir(self) -> str:
        return f"s3://{self.bucket}/savepoints"


def job_arguments(settings: JobSettings, restore_from: str | None = None) -> list[str]:
    """The bushfire job's command line after `-pym jobs.bushfire` (flags of jobs/bushfire/config.py)."""
    resume = ["--restore-from", restore_from] if restore_from else []
    return [
        "--source", "kinesis",
        "--kinesis-stream", settings.stream,
        "--kinesis-region", settings.region,
        "--kinesis-initpos", settings.initpos,
        "--connector-jars", CONNECTOR_JAR,
        "--sns-topic-arn", settings.topic_arn,
        "--opensearch-url", settings.opensearch_url,
        "--opensearch-auth", "sigv4",
        "--opensearch-region", settings.region,
        "--opensearch-index", settings.index,
        "--checkpoint-interval", CHECKPOINT_INTERVAL,
        "--checkpoint-dir", settings.checkpoint_dir,
        "--python-executable", PYTHON,
        "--alerts-out", f"{NODE_DATA_DIR}/alerts.jsonl",
        "--dead-letters", f"{NODE_DATA_DIR}/dead-letters.jsonl",
        *resume,
        *settings.extra_args,
    ]  # fmt: skip


def flink_run_command(settings: JobSettings, from_savepoint: str | None = None) -> list[str]:
    """`flink run` on YARN for the PyFlink job, optionally resuming from a savepoint."""
    resume = ["--fromSavepoint", from_savepoint] if from_savepoint else []
    return [
        "flink", "run", "--target", "yarn-per-job", "--detached",
        f"-Dyarn.application.name={YARN_APP_NAME}",
        *resume,
        "--jarfile", CONNECTOR_JAR,
        "-C", f"file://{PARSER_JAR}",
        "-pyclientexec", PYTHON, "-pyexec", PYTHON,
        "-pyfs", f"file://{LOCAL_PACKAGE}",
        "-pym", "jobs.bushfire",
        *job_arguments(settings, from_savepoint),
    ]  # fmt: skip


def start_job_args(settings: JobSettings, from_savepoint: str | None = None) -> list[str]:
    """The job step's command: `flink run`, behind the guard against a job that already runs."""
    return ["bash", START_SCRIPT, YARN_APP_NAME, *flink_run_command(settings, from_savepoint)]


def _step(name: str, args: list[str]) -> dict[str, Any]:
    return {
        "Name": name,
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": COMMAND_RUNNER, "Args": args},
    }


def submit_steps(settings: JobSettings, package_key: str, from_savepoint: str | None = None) -> list[dict]:
    """Copy the package to the primary node, then start the job from it."""
    fetch = ["aws", "s3", "cp", f"s3://{settings.bucket}/{package_key}", LOCAL_PACKAGE]
    return [
        _step("emberwatch-fetch-package", fetch),
        _step(YARN_APP_NAME, start_job_args(settings, from_savepoint)),
    ]


def savepoint_step(settings: JobSettings) -> dict[str, Any]:
    """Stop the running job with a savepoint under the bucket's savepoints/ prefix."""
    args = ["bash", SAVEPOINT_SCRIPT, settings.savepoint_dir, YARN_APP_NAME]
    return _step("emberwatch-stop-with-savepoint", args)


def add_steps(emr: Any, cluster_id: str, steps: list[dict]) -> list[str]:
    """Queue steps on the cluster and return their ids."""
    try:
        return emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=steps)["StepIds"]
    except ClientError as exc:
        raise DeployError(
            f"Could not add steps to EMR cluster {cluster_id}: {exc}. Check that the cluster is WAITING or "
            "RUNNING (`emberwatch-deploy status`) and that your identity may call "
            "elasticmapreduce:AddJobFlowSteps."
        ) from exc


def wait_for_step(emr: Any, cluster_id: str, step_id: str, wait: dict | None = None) -> None:
    """Block until a step completes (EMR's StepComplete waiter); raise with its failure reason."""
    try:
        waiter = emr.get_waiter("step_complete")
        waiter.wait(ClusterId=cluster_id, StepId=step_id, WaiterConfig=wait or STEP_WAIT)
    except WaiterError as exc:
        status = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]
        details = status.get("FailureDetails", {})
        raise DeployError(
            f"EMR step {step_id} ended {status['State']}: {details.get('Reason', 'no reason given')} "
            f"{details.get('Message', '')}. Its stderr is in the bucket under "
            f"emr-logs/{cluster_id}/steps/{step_id}/."
        ) from exc


def latest_savepoint(s3: Any, bucket: str, prefix: str = "savepoints/") -> str | None:
    """The newest savepoint directory under `prefix` (the one whose `_metadata` was written last)."""
    newest = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/_metadata"):
                continue
            if newest is None or obj["LastModified"] > newest["LastModified"]:
                newest = obj
    return f"s3://{bucket}/{newest['Key'].rsplit('/', 1)[0]}" if newest else None
