"""`emberwatch-deploy` against moto_server: real boto3 calls over HTTP, no AWS account.

What moto cannot do and how the tests get around it (nothing here is faked in our code):
- moto's CloudFormation has no model for the OpenSearch domain, the IoT topic rule and the bucket policy;
  the stack tests use the real template minus those three (tests/infra/moto_template.py).
- moto's change sets create resources but never stack outputs; the CLI reads physical resource ids
  when outputs are missing (`stack.stack_facts`), which these tests therefore exercise.
- moto creates no usable EMR cluster from a template and its steps never finish, so the step tests run
  `run_job_flow` directly, pass `--cluster-id`, and read the queued steps' arguments back.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from pathlib import Path

import pytest

from infra import steps
from infra.cli import main
from infra.errors import DeployError
from infra.package import build_package
from jobs.bushfire.connector import KINESIS_CONNECTOR_JAR
from tests.infra.conftest import make_project

CIDR = "203.0.113.7/32"


def _up(stack_name: str, template: Path, root: Path, common: list[str], *extra: str) -> int:
    return main(
        ["up", "--stack-name", stack_name, "--template", str(template), "--project-root", str(root), *common]
        + list(extra)
    )


def _stack_parameters(cfn, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def _physical_ids(cfn, stack_name: str) -> dict[str, str]:
    summaries = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in summaries}


def _deploy(stack_name: str, moto_template: Path, project_root: Path, cli_common: list[str], aws) -> dict:
    rc = _up(
        stack_name, moto_template, project_root, cli_common,
        "--allowed-cidr", CIDR, "--subnet-id", "subnet-0abc1234", "--alert-email", "ops@example.com",
    )  # fmt: skip
    assert rc == 0
    ids = _physical_ids(aws("cloudformation"), stack_name)
    return {
        "stack": stack_name,
        "bucket": ids["Bucket"],
        "stream": ids["SensorStream"],
        "topic": ids["AlertTopic"],
    }


@pytest.fixture()
def deployed(stack_name, moto_template, project_root, cli_common, aws) -> dict[str, str]:
    """A stack brought up by the CLI for this test alone (which may change or delete it)."""
    return _deploy(stack_name, moto_template, project_root, cli_common, aws)


@pytest.fixture(scope="module")
def shared_stack(moto_template, cli_common, aws, tmp_path_factory) -> dict[str, str]:
    """A stack brought up once for the tests that only read it and queue steps on their own cluster."""
    root = make_project(tmp_path_factory.mktemp("shared") / "project")
    return _deploy("ew-shared", moto_template, root, cli_common, aws)


def test_up_creates_the_stack_in_two_phases_and_uploads_the_package(deployed, aws, project_root) -> None:
    cfn, s3 = aws("cloudformation"), aws("s3")
    package = build_package(project_root)
    assert cfn.describe_stacks(StackName=deployed["stack"])["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    params = _stack_parameters(cfn, deployed["stack"])
    assert params["DeployCluster"] == "true"
    assert params["ArtifactKey"] == package.s3_key
    assert (params["SubnetId"], params["DashboardAllowedCidr"], params["AlertEmail"]) == (
        "subnet-0abc1234",
        CIDR,
        "ops@example.com",
    )
    stored = s3.get_object(Bucket=deployed["bucket"], Key=package.s3_key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == package.sha256
    names = zipfile.ZipFile(io.BytesIO(stored)).namelist()
    assert {"cep/__init__.py", "jobs/bushfire/__main__.py", "requirements.txt", "emr/savepoint.sh"} <= set(
        names
    )
    bootstrap = s3.get_object(Bucket=deployed["bucket"], Key="artifacts/bootstrap.sh")["Body"].read()
    assert bootstrap == (Path(steps.__file__).parent / "emr" / "bootstrap.sh").read_bytes()
    # The stream and topic the job will use exist behind the stack.
    assert aws("kinesis").describe_stream_summary(StreamName=deployed["stream"])["StreamDescriptionSummary"]
    assert deployed["topic"] in [t["TopicArn"] for t in aws("sns").list_topics()["Topics"]]


def test_up_again_with_the_same_code_changes_nothing(
    deployed, moto_template, project_root, cli_common, aws, capsys
):
    capsys.readouterr()
    assert _up(deployed["stack"], moto_template, project_root, cli_common) == 0
    out = capsys.readouterr().out
    assert "already there" in out
    listed = aws("s3").list_objects_v2(Bucket=deployed["bucket"], Prefix="artifacts/")["Contents"]
    assert len([o for o in listed if o["Key"].endswith(".zip")]) == 1


def test_up_with_new_code_uploads_it_but_keeps_the_installed_package(
    deployed, moto_template, project_root, cli_common, aws, capsys
) -> None:
    installed = _stack_parameters(aws("cloudformation"), deployed["stack"])["ArtifactKey"]
    (project_root / "cep" / "engine.py").write_text("VERSION = 2\n")
    capsys.readouterr()
    assert _up(deployed["stack"], moto_template, project_root, cli_common) == 0
    assert "keeps its installed package" in capsys.readouterr().out
    assert _stack_parameters(aws("cloudformation"), deployed["stack"])["ArtifactKey"] == installed
    new_key = build_package(project_root).s3_key
    assert new_key != installed
    assert aws("s3").head_object(Bucket=deployed["bucket"], Key=new_key)["ContentLength"] > 0


def test_first_up_without_allowed_cidr_says_what_to_pass(
    stack_name, moto_template, project_root, cli_common, capsys
) -> None:
    assert _up(stack_name, moto_template, project_root, cli_common) == 2
    assert "--allowed-cidr" in capsys.readouterr().err


def test_up_without_a_subnet_says_what_to_pass_before_creating_anything(
    stack_name, moto_template, project_root, cli_common, aws, capsys
) -> None:
    assert _up(stack_name, moto_template, project_root, cli_common, "--allowed-cidr", CIDR) == 2
    assert "--subnet-id" in capsys.readouterr().err
    from infra.stack import stack_status

    assert stack_status(aws("cloudformation"), stack_name) is None


def test_up_from_a_directory_without_the_packages_names_them(
    stack_name, moto_template, tmp_path, cli_common, capsys
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "emberwatch"\nversion = "0"\n')
    assert _up(stack_name, moto_template, tmp_path, cli_common, "--allowed-cidr", CIDR) == 2
    err = capsys.readouterr().err
    assert "cep, common, jobs not found" in err and "repository root" in err


@pytest.fixture()
def cluster_id(aws) -> str:
    """A long-running EMR cluster on moto (the template's cluster cannot be created there)."""
    response = aws("emr").run_job_flow(
        Name="emberwatch-test",
        ReleaseLabel="emr-7.8.0",
        Applications=[{"Name": "Flink"}],
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "SlaveInstanceType": "m5.xlarge",
            "InstanceCount": 3,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )
    return response["JobFlowId"]


def _queued_steps(emr, cluster: str) -> list[dict]:
    listed = emr.list_steps(ClusterId=cluster)["Steps"]
    ids = [s["Id"] for s in reversed(listed)]  # list_steps is newest first
    return [emr.describe_step(ClusterId=cluster, StepId=i)["Step"] for i in ids]


def test_submit_queues_fetch_and_flink_run_steps_against_the_stack(
    shared_stack, cluster_id, cli_common, aws
) -> None:
    rc = main(
        ["submit", "--stack-name", shared_stack["stack"], "--cluster-id", cluster_id,
         "--opensearch-url", "https://search-ew.example",
         "--job-arg=--parallelism", "--job-arg=4", *cli_common]
    )  # fmt: skip
    assert rc == 0
    fetch, run = _queued_steps(aws("emr"), cluster_id)
    package_key = _stack_parameters(aws("cloudformation"), shared_stack["stack"])["ArtifactKey"]
    assert fetch["Config"]["Jar"] == run["Config"]["Jar"] == "command-runner.jar"
    assert fetch["Config"]["Args"] == [
        "aws", "s3", "cp", f"s3://{shared_stack['bucket']}/{package_key}", steps.LOCAL_PACKAGE,
    ]  # fmt: skip
    args = run["Config"]["Args"]
    assert args[:3] == ["bash", steps.START_SCRIPT, steps.YARN_APP_NAME]  # the guard against a second job
    assert args[3:8] == ["flink", "run", "--target", "yarn-per-job", "--detached"]

    def value(flag: str) -> str:
        return args[args.index(flag) + 1]

    assert value("-pym") == "jobs.bushfire"
    assert value("-pyfs") == f"file://{steps.LOCAL_PACKAGE}"
    assert value("--jarfile").endswith(KINESIS_CONNECTOR_JAR)
    assert value("--source") == "kinesis"
    assert value("--kinesis-stream") == shared_stack["stream"]
    assert value("--kinesis-region") == value("--opensearch-region") == "us-east-1"
    assert value("--connector-jars") == value("--jarfile")
    assert value("--opensearch-auth") == "sigv4"
    assert value("--sns-topic-arn") == shared_stack["topic"]
    assert value("--opensearch-url") == "https://search-ew.example"
    assert value("--checkpoint-dir") == f"s3://{shared_stack['bucket']}/checkpoints"
    assert args[-2:] == ["--parallelism", "4"]
    assert "--fromSavepoint" not in args and "--restore-from" not in args


def test_submit_from_the_latest_savepoint_resumes_from_the_newest(
    deployed, cluster_id, cli_common, aws
) -> None:
    s3 = aws("s3")
    s3.put_object(Bucket=deployed["bucket"], Key="savepoints/savepoint-aaaaaa-1/_metadata", Body=b"old")
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    s3.put_object(Bucket=deployed["bucket"], Key="savepoints/savepoint-bbbbbb-2/_metadata", Body=b"new")
    s3.put_object(Bucket=deployed["bucket"], Key="savepoints/savepoint-bbbbbb-2/op-state", Body=b"x")
    rc = main(
        ["submit", "--stack-name", deployed["stack"], "--cluster-id", cluster_id,
         "--opensearch-url", "https://search-ew.example", "--from-savepoint", "latest",
         "--initpos", "TRIM_HORIZON", *cli_common]
    )  # fmt: skip
    assert rc == 0
    args = _queued_steps(aws("emr"), cluster_id)[-1]["Config"]["Args"]
    newest = f"s3://{deployed['bucket']}/savepoints/savepoint-bbbbbb-2"
    assert args[args.index("--fromSavepoint") + 1] == args[args.index("--restore-from") + 1] == newest
    assert args[args.index("--kinesis-initpos") + 1] == "TRIM_HORIZON"


def test_submit_from_latest_without_savepoints_says_so(shared_stack, cluster_id, cli_common, capsys) -> None:
    rc = main(
        ["submit", "--stack-name", shared_stack["stack"], "--cluster-id", cluster_id,
         "--opensearch-url", "https://x", "--from-savepoint", "latest", *cli_common]
    )  # fmt: skip
    assert rc == 2
    assert "No savepoint under" in capsys.readouterr().err


def test_submit_without_a_cluster_says_how_to_get_one(shared_stack, cli_common, capsys) -> None:
    rc = main(["submit", "--stack-name", shared_stack["stack"], "--opensearch-url", "https://x", *cli_common])
    assert rc == 2
    assert "ClusterId" in capsys.readouterr().err


def test_savepoint_step_targets_the_bucket_and_waiting_reports_the_step_state(
    shared_stack, cluster_id, aws
) -> None:
    settings = steps.JobSettings("s", "us-east-1", "t", "https://o", "i", shared_stack["bucket"])
    emr = aws("emr")
    (step_id,) = steps.add_steps(emr, cluster_id, [steps.savepoint_step(settings)])
    step = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
    assert step["Config"]["Args"] == [
        "bash", steps.SAVEPOINT_SCRIPT, f"s3://{shared_stack['bucket']}/savepoints", steps.YARN_APP_NAME,
    ]  # fmt: skip
    # moto never finishes a step, so the waiter gives up: the error names the state and the log path.
    with pytest.raises(
        DeployError, match=rf"{step_id} ended RUNNING.*emr-logs/{cluster_id}/steps/{step_id}/"
    ):
        steps.wait_for_step(emr, cluster_id, step_id, wait={"Delay": 1, "MaxAttempts": 1})


def test_status_prints_the_stack_and_the_cluster(shared_stack, cluster_id, cli_common, capsys) -> None:
    assert (
        main(["status", "--stack-name", shared_stack["stack"], "--cluster-id", cluster_id, *cli_common]) == 0
    )
    out = capsys.readouterr().out
    assert f"stack {shared_stack['stack']}: UPDATE_COMPLETE" in out
    assert shared_stack["bucket"] in out and f"cluster {cluster_id}: WAITING" in out


def test_down_deletes_the_stack_and_with_delete_data_the_bucket(deployed, cli_common, aws, capsys) -> None:
    assert main(["down", "--stack-name", deployed["stack"], "--delete-data", *cli_common]) == 0
    from infra.stack import stack_status

    assert stack_status(aws("cloudformation"), deployed["stack"]) is None
    assert deployed["bucket"] not in [b["Name"] for b in aws("s3").list_buckets()["Buckets"]]
    assert main(["status", "--stack-name", deployed["stack"], *cli_common]) == 1
