"""Create, update and delete the CloudFormation stack through change sets and waiters."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from infra.errors import DeployError

logger = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).parent / "templates" / "emberwatch.yaml"
CAPABILITIES = ["CAPABILITY_IAM"]
# The OpenSearch domain alone takes 15-30 min to create; EMR with bootstrap about 15 min.
STACK_WAIT = {"Delay": 30, "MaxAttempts": 180}
CHANGE_SET_WAIT = {"Delay": 5, "MaxAttempts": 120}
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did: the change set's name and whether it changed anything."""

    stack_name: str
    change_set_name: str
    action: str  # CREATE, UPDATE or NONE
    changes: tuple[str, ...]


def template_body(path: Path = TEMPLATE_PATH) -> str:
    return path.read_text(encoding="utf-8")


def stack_status(cfn: Any, stack_name: str) -> str | None:
    """The stack's status, or None when no such stack exists (deleted stacks count as absent)."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise DeployError(f"Cannot read stack {stack_name}: {exc}") from exc
    status = stacks[0]["StackStatus"]
    return None if status == "DELETE_COMPLETE" else status


def stack_outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs as a name -> value mapping."""
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        raise DeployError(
            f"Stack {stack_name} not found: run `emberwatch-deploy up` first, or pass --stack-name/--region "
            "of the stack you deployed."
        ) from exc
    return {out["OutputKey"]: out["OutputValue"] for out in stack.get("Outputs", [])}


# Facts the CLI needs -> the resource whose physical id is that fact.
RESOURCE_FACTS = {
    "BucketName": "Bucket",
    "StreamName": "SensorStream",
    "AlertTopicArn": "AlertTopic",
    "ClusterId": "FlinkCluster",
}


def stack_facts(cfn: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs, with gaps filled from the physical ids of its resources.

    Outputs come first. A stack whose outputs are not (yet) readable, e.g. mid-update, or on emulators
    whose change sets produce no outputs, still yields its bucket, stream, topic and cluster.
    """
    facts = stack_outputs(cfn, stack_name)
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name)
        for r in page["StackResourceSummaries"]
    }
    for fact, logical_id in RESOURCE_FACTS.items():
        if not facts.get(fact) and physical.get(logical_id):
            facts[fact] = physical[logical_id]
    return facts


def _parameters(values: Mapping[str, str], previous: set[str]) -> list[dict[str, Any]]:
    params = [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in sorted(values.items())]
    params += [{"ParameterKey": k, "UsePreviousValue": True} for k in sorted(previous - set(values))]
    return params


def deploy_stack(
    cfn: Any,
    stack_name: str,
    parameters: Mapping[str, str],
    body: str | None = None,
    wait: bool = True,
) -> DeployResult:
    """Create or update the stack with a change set, then wait for it to finish.

    Parameters not given keep their previous values on update. A change set without changes is
    deleted and reported as action NONE instead of failing.
    """
    status = stack_status(cfn, stack_name)
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"Stack {stack_name} is ROLLBACK_COMPLETE (its creation failed) and cannot be updated: read the "
            "failure in the CloudFormation console events, then `emberwatch-deploy down` and `up` again."
        )
    change_type = "CREATE" if status is None else "UPDATE"
    previous: set[str] = set()
    if change_type == "UPDATE":
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        previous = {p["ParameterKey"] for p in stack.get("Parameters", [])}
    name = f"emberwatch-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    try:
        cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=name,
            ChangeSetType=change_type,
            TemplateBody=body if body is not None else template_body(),
            Parameters=_parameters(parameters, previous),
            Capabilities=CAPABILITIES,
            Tags=[{"Key": "project", "Value": "emberwatch"}],
        )
    except ClientError as exc:
        if any(marker in str(exc) for marker in _NO_CHANGES):
            return DeployResult(stack_name, name, "NONE", ())
        raise DeployError(f"CloudFormation refused the change set for {stack_name}: {exc}") from exc
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=stack_name, ChangeSetName=name, WaiterConfig=CHANGE_SET_WAIT
        )
    except WaiterError as exc:
        described = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in _NO_CHANGES):
            cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
            return DeployResult(stack_name, name, "NONE", ())
        raise DeployError(f"Change set {name} for {stack_name} failed: {reason or exc}") from exc
    described = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
    changes = tuple(
        f"{c['ResourceChange']['Action']} {c['ResourceChange']['LogicalResourceId']}"
        for c in described.get("Changes", [])
    )
    logger.info("executing change set %s: %s", name, ", ".join(changes) or "(no resource changes)")
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    if wait:
        waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
        _wait(cfn, waiter, stack_name)
    return DeployResult(stack_name, name, change_type, changes)


def delete_stack(cfn: Any, stack_name: str, wait: bool = True) -> None:
    """Delete the stack (the bucket is retained; see `empty_and_delete_bucket`)."""
    cfn.delete_stack(StackName=stack_name)
    if wait:
        _wait(cfn, "stack_delete_complete", stack_name)


def _wait(cfn: Any, waiter_name: str, stack_name: str) -> None:
    try:
        cfn.get_waiter(waiter_name).wait(StackName=stack_name, WaiterConfig=STACK_WAIT)
    except WaiterError as exc:
        reason = first_failure(cfn, stack_name)
        raise DeployError(f"Stack {stack_name} did not reach {waiter_name}: {reason}") from exc


def first_failure(cfn: Any, stack_name: str) -> str:
    """The first failed resource event of the stack, which usually names the root cause."""
    try:
        pages = cfn.get_paginator("describe_stack_events").paginate(StackName=stack_name)
        events = [e for page in pages for e in page["StackEvents"]]
    except ClientError as exc:
        return f"(events unavailable: {exc})"
    failed = [e for e in reversed(events) if e["ResourceStatus"].endswith("_FAILED")]
    if not failed:
        return "no failed resource event; see the stack's events in the CloudFormation console"
    event = failed[0]
    return f"{event['LogicalResourceId']} ({event['ResourceType']}): {event.get('ResourceStatusReason', '')}"


def empty_and_delete_bucket(s3: Any, bucket: str) -> int:
    """Delete every object of the (retained) bucket, then the bucket; returns the objects deleted."""
    deleted = 0
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        logger.info("bucket %s is already gone", bucket)
        return 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    s3.delete_bucket(Bucket=bucket)
    return deleted
