"""Least-privilege rules for the IAM documents in our CloudFormation templates.

A statement passes when every `Allow` names concrete resources: an intrinsic that points at a resource
of the template (`Ref`, `Fn::GetAtt`, or `Fn::Sub` over `${Logical...}`), or an ARN built from the
partition/region/account pseudo parameters with a literal prefix after them. A literal `"*"` resource,
a service-wide action (`s3:*`), or an `Allow` to everyone without a condition passes only when it is on
the allow-list below, with the reason AWS forces it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]

# (logical id, statement Sid) -> why AWS requires the wildcard.
WILDCARD_RESOURCE_ALLOWED = {
    ("DataKey", "AccountAdministersKeyThroughIam"): 'a key policy can only name its own key as "*"',
    ("EmrInstanceRole", "EmrNodeAgentDescribesInstances"): "EC2 Describe* has no resource-level permissions",
}
WILDCARD_ACTION_ALLOWED = {
    ("DataKey", "AccountAdministersKeyThroughIam"): "the account root administers the key through IAM",
    ("SearchDomain", "OperatorNetworkOnly"): "Dashboards needs every HTTP verb; limited to one CIDR",
}
# AWS managed policies we attach, each narrower than anything we could write ourselves.
MANAGED_POLICIES_ALLOWED = {"AmazonEMRServicePolicy_v2"}

_ARN_FROM_PSEUDO = re.compile(
    r"^arn:\$\{AWS::Partition\}:(?P<service>[a-z0-9-]+):(?P<region>\$\{AWS::Region\})?:"
    r"(?P<account>\$\{AWS::AccountId\})?:(?P<rest>.+)$"
)


def template_paths() -> list[Path]:
    """Every CloudFormation template the test script lints."""
    return sorted(ROOT.glob("infra/**/templates/*.yaml"))


def load_template(path: Path) -> dict[str, Any]:
    """Parse a template with cfn-lint's decoder (it understands !Ref, !Sub, ... tags)."""
    template, problems = decode(str(path))
    if problems:
        raise ValueError(f"{path}: cannot parse: {problems}")
    return template


@dataclass(frozen=True)
class Statement:
    """One policy statement and where it came from."""

    template: str
    logical_id: str
    body: dict[str, Any]

    @property
    def sid(self) -> str:
        return str(self.body.get("Sid", "?"))

    def where(self) -> str:
        return f"{self.template}:{self.logical_id}:{self.sid}"


def _documents(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The policy documents a resource carries (roles, policies, bucket/key/domain policies)."""
    kind = resource.get("Type", "")
    props = resource.get("Properties", {}) or {}
    if kind == "AWS::IAM::Role":
        for policy in props.get("Policies", []) or []:
            yield policy["PolicyDocument"]
    elif kind in (
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
    ):
        yield props["PolicyDocument"]
    elif kind == "AWS::KMS::Key":
        yield props["KeyPolicy"]
    elif (
        kind in ("AWS::OpenSearchService::Domain", "AWS::Elasticsearch::Domain") and "AccessPolicies" in props
    ):
        yield props["AccessPolicies"]


def statements(template_path: Path) -> Iterator[Statement]:
    """Every statement of every policy document in a template."""
    template = load_template(template_path)
    for logical_id, resource in template.get("Resources", {}).items():
        for document in _documents(resource):
            body = document["Statement"]
            for stmt in body if isinstance(body, list) else [body]:
                yield Statement(template_path.name, logical_id, stmt)


def managed_policy_names(template_path: Path) -> list[tuple[str, str]]:
    """(logical id, policy name) of every managed policy ARN a role attaches."""
    found = []
    for logical_id, resource in load_template(template_path).get("Resources", {}).items():
        for arn in (resource.get("Properties", {}) or {}).get("ManagedPolicyArns", []) or []:
            text = arn["Fn::Sub"] if isinstance(arn, dict) and "Fn::Sub" in arn else str(arn)
            found.append((logical_id, text.rsplit("/", 1)[-1]))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resource_problem(resource: Any, logical_ids: set[str]) -> str | None:
    """Why a Resource entry is not concrete, or None when it is."""
    if isinstance(resource, dict):
        if "Ref" in resource:
            return None if resource["Ref"] in logical_ids else f"Ref to non-resource {resource['Ref']!r}"
        if "Fn::GetAtt" in resource:
            target = resource["Fn::GetAtt"]
            name = target[0] if isinstance(target, list) else str(target).split(".")[0]
            return None if name in logical_ids else f"GetAtt of non-resource {name!r}"
        if "Fn::Sub" in resource:
            text = resource["Fn::Sub"]
            text = text[0] if isinstance(text, list) else text
            return _sub_problem(text, logical_ids)
        return f"unsupported intrinsic {sorted(resource)}"
    text = str(resource)
    if "*" in text and not text.startswith("arn:"):
        return f"wildcard resource {text!r}"
    if text.startswith("arn:") and text.split(":", 5)[-1].startswith("*"):
        return f"wildcard ARN {text!r}"
    return None


def _sub_problem(text: str, logical_ids: set[str]) -> str | None:
    head = re.match(r"^\$\{([A-Za-z0-9]+)(\.[A-Za-z]+)?\}", text)
    if head:
        return None if head.group(1) in logical_ids else f"Sub starts with non-resource {head.group(1)!r}"
    arn = _ARN_FROM_PSEUDO.match(text)
    if arn is None:
        return f"Sub {text!r} is neither a resource reference nor an ARN built from pseudo parameters"
    if arn.group("service") not in ("iam", "s3") and not (arn.group("region") and arn.group("account")):
        return f"ARN {text!r} is not scoped to this region and account"
    if arn.group("rest").startswith("*"):
        return f"ARN {text!r} has a wildcard right after the account"
    return None


def statement_problems(stmt: Statement, logical_ids: set[str]) -> list[str]:
    """Every least-privilege rule the statement breaks (empty when it is fine)."""
    body, key = stmt.body, (stmt.logical_id, stmt.sid)
    if body.get("Effect") != "Allow":
        return []
    problems = []
    for resource in _as_list(body.get("Resource", [])):
        if resource == "*":
            if key not in WILDCARD_RESOURCE_ALLOWED:
                problems.append(f'{stmt.where()}: Resource "*" not on the allow-list')
            continue
        problem = resource_problem(resource, logical_ids)
        if problem:
            problems.append(f"{stmt.where()}: {problem}")
    if "NotResource" in body or "NotAction" in body:
        problems.append(f"{stmt.where()}: NotResource/NotAction grant everything else")
    for action in _as_list(body.get("Action", [])):
        if "*" in str(action) and key not in WILDCARD_ACTION_ALLOWED:
            problems.append(f"{stmt.where()}: wildcard action {action!r} not on the allow-list")
    principal = body.get("Principal")
    if principal in ("*", {"AWS": "*"}) and not body.get("Condition"):
        problems.append(f"{stmt.where()}: Allow to everyone without a condition (an open policy)")
    return problems


def template_problems(template_path: Path) -> list[str]:
    """All least-privilege problems of one template."""
    logical_ids = set(load_template(template_path).get("Resources", {}))
    problems: list[str] = []
    for stmt in statements(template_path):
        problems.extend(statement_problems(stmt, logical_ids))
    for logical_id, name in managed_policy_names(template_path):
        if name not in MANAGED_POLICIES_ALLOWED:
            problems.append(f"{template_path.name}:{logical_id}: managed policy {name} not on the allow-list")
    return problems
