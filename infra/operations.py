"""What `emberwatch-deploy` does against a deployed stack: read its outputs, upload the package, submit
the job and stop it with a savepoint. The command line (`infra.cli`) parses flags and prints; these
functions take AWS clients and raise `DeployError` saying what to do.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from infra import stack, steps
from infra.aws import make_client
from infra.errors import DeployError
from infra.package import JobPackage, bootstrap_script

BOOTSTRAP_KEY = "artifacts/bootstrap.sh"


@dataclass(frozen=True)
class Clients:
    """The AWS clients one command needs, built once through `make_client`."""

    session: Any
    region: str | None
    endpoint_url: str | None

    def client(self, service: str) -> Any:
        return make_client(
            service, boto3_session=self.session, region=self.region, endpoint_url=self.endpoint_url
        )


def stack_parameter(cfn: Any, stack_name: str, key: str) -> str:
    """A parameter the stack was deployed with (empty when it has none)."""
    params = cfn.describe_stacks(StackName=stack_name)["Stacks"][0].get("Parameters", [])
    return next((p["ParameterValue"] for p in params if p["ParameterKey"] == key), "")


def stack_outputs(
    clients: Clients, stack_name: str, *required: str, overrides: dict[str, str | None] | None = None
) -> dict[str, str]:
    outputs = stack.stack_facts(clients.client("cloudformation"), stack_name)
    outputs.update({key: value for key, value in (overrides or {}).items() if value})
    missing = [name for name in required if not outputs.get(name)]
    if missing:
        raise DeployError(
            f"Stack {stack_name} has no output(s) {', '.join(missing)}: "
            + (
                "the EMR cluster is not deployed; run `emberwatch-deploy up` without --no-cluster."
                if "ClusterId" in missing
                else "it may still be creating; check `emberwatch-deploy status`."
            )
        )
    return outputs


def aws_region(clients: Clients) -> str:
    region = clients.region or clients.session.region_name
    if not region:
        raise DeployError("No AWS region: pass --region, or set AWS_REGION.")
    return region


def upload_package(s3: Any, bucket: str, package: JobPackage) -> bool:
    """Upload the bootstrap script and the package; False when the package was already there."""
    s3.put_object(Bucket=bucket, Key=BOOTSTRAP_KEY, Body=bootstrap_script())
    try:
        s3.head_object(Bucket=bucket, Key=package.s3_key)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise DeployError(f"Cannot read s3://{bucket}/{package.s3_key}: {exc}") from exc
    s3.upload_fileobj(
        io.BytesIO(package.data),
        bucket,
        package.s3_key,
        ExtraArgs={"Metadata": {"sha256": package.sha256, "version": package.version}},
    )
    return True


def job_settings(outputs: dict[str, str], region: str, initpos: str, extra: list[str]) -> steps.JobSettings:
    """The job's endpoints, from the stack outputs."""
    return steps.JobSettings(
        stream=outputs["StreamName"],
        region=region,
        topic_arn=outputs["AlertTopicArn"],
        opensearch_url=outputs["OpenSearchEndpoint"],
        index=outputs.get("RawIndexName", "sensor-readings"),
        bucket=outputs["BucketName"],
        initpos=initpos,
        extra_args=tuple(extra),
    )


def submit_job(
    clients: Clients,
    stack_name: str,
    initpos: str,
    extra: list[str],
    package_key: str | None,
    from_savepoint: str | None,
    wait: bool,
    overrides: dict[str, str | None] | None = None,
) -> list[str]:
    """Queue the fetch-package and `flink run` steps; returns their step ids."""
    cfn, emr = clients.client("cloudformation"), clients.client("emr")
    required = ("ClusterId", "BucketName", "StreamName", "AlertTopicArn", "OpenSearchEndpoint")
    outputs = stack_outputs(clients, stack_name, *required, overrides=overrides)
    settings = job_settings(outputs, aws_region(clients), initpos, extra)
    key = package_key or stack_parameter(cfn, stack_name, "ArtifactKey")
    if not key:
        raise DeployError(f"Stack {stack_name} names no package: run `emberwatch-deploy up` first.")
    if from_savepoint == "latest":
        from_savepoint = steps.latest_savepoint(clients.client("s3"), settings.bucket)
        if from_savepoint is None:
            raise DeployError(
                f"No savepoint under s3://{settings.bucket}/savepoints/: run `savepoint` first."
            )
    step_ids = steps.add_steps(emr, outputs["ClusterId"], steps.submit_steps(settings, key, from_savepoint))
    if wait:
        for step_id in step_ids:
            steps.wait_for_step(emr, outputs["ClusterId"], step_id)
    return step_ids


def take_savepoint(clients: Clients, stack_name: str, overrides: dict[str, str | None] | None = None) -> str:
    """Stop the job with a savepoint (an EMR step) and return the savepoint's S3 path."""
    emr, s3 = clients.client("emr"), clients.client("s3")
    outputs = stack_outputs(clients, stack_name, "ClusterId", "BucketName", overrides=overrides)
    settings = job_settings(
        {"StreamName": "", "AlertTopicArn": "", "OpenSearchEndpoint": "", **outputs},
        aws_region(clients),
        "LATEST",
        [],
    )
    before = steps.latest_savepoint(s3, settings.bucket)
    (step_id,) = steps.add_steps(emr, outputs["ClusterId"], [steps.savepoint_step(settings)])
    steps.wait_for_step(emr, outputs["ClusterId"], step_id)
    after = steps.latest_savepoint(s3, settings.bucket)
    if after is None or after == before:
        raise DeployError(
            f"Step {step_id} finished but no new savepoint appeared under "
            f"s3://{settings.bucket}/savepoints/: read the step's stdout under emr-logs/ in the bucket."
        )
    return after
