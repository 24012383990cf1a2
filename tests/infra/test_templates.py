"""The CloudFormation templates lint clean and grant only what the job needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.iam_rules import (
    WILDCARD_RESOURCE_ALLOWED,
    Statement,
    load_template,
    statement_problems,
    statements,
    template_paths,
    template_problems,
)

TEMPLATES = template_paths()
MAIN = next(p for p in TEMPLATES if p.name == "emberwatch.yaml")


def test_there_are_templates_to_check() -> None:
    assert MAIN.exists()


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_is_clean(path: Path) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    argv = [str(cfn_lint)] if cfn_lint.exists() else [sys.executable, "-m", "cfnlint"]
    result = subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"cfn-lint {path.name}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_policy_names_concrete_resources(path: Path) -> None:
    assert template_problems(path) == []


def test_the_checker_rejects_broad_statements() -> None:
    ids = {"Bucket", "SensorStream"}

    def problems(body: dict) -> list[str]:
        return statement_problems(Statement("t.yaml", "SomeRole", body), ids)

    assert problems({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    assert problems({"Effect": "Allow", "Action": "s3:*", "Resource": {"Fn::GetAtt": ["Bucket", "Arn"]}})
    assert problems({"Effect": "Allow", "Action": "kinesis:GetRecords", "Resource": "arn:aws:kinesis:*"})
    assert problems({"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "SomeParameter"}})
    assert problems(
        {"Effect": "Allow", "Action": "es:ESHttpGet", "Resource": {"Fn::Sub": "arn:${AWS::Partition}:es:*"}}
    )
    assert problems({"Effect": "Allow", "Principal": "*", "Action": "es:ESHttpGet", "Resource": "x"})
    assert problems({"Effect": "Allow", "NotAction": "iam:*", "Resource": {"Ref": "Bucket"}})
    # ...and accepts the narrow ones.
    assert not problems(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::Sub": "${Bucket.Arn}/a/*"}}
    )
    assert not problems({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"})


def test_wildcard_allow_list_entries_are_all_used() -> None:
    """A stale allow-list entry would hide the next broad statement under the same name."""
    used = {(s.logical_id, s.sid) for p in TEMPLATES for s in statements(p) if s.body.get("Resource") == "*"}
    used = {key for key in used if key in WILDCARD_RESOURCE_ALLOWED}
    assert used == set(WILDCARD_RESOURCE_ALLOWED)


def test_job_role_reaches_only_its_own_stream_topic_domain_and_bucket() -> None:
    job_statements = [s for s in statements(MAIN) if s.logical_id == "EmrInstanceRole"]
    by_service: dict[str, list] = {}
    for stmt in job_statements:
        actions = stmt.body["Action"] if isinstance(stmt.body["Action"], list) else [stmt.body["Action"]]
        for action in actions:
            by_service.setdefault(action.split(":")[0], []).append(stmt.body["Resource"])
    assert by_service["sns"] == [{"Ref": "AlertTopic"}]
    assert {"Fn::GetAtt": ["SensorStream", "Arn"]} in by_service["kinesis"]
    assert all("DomainName" in str(r) for r in by_service["es"])
    assert all("Bucket" in str(r) for r in by_service["s3"])
    assert set(by_service) == {"kinesis", "sns", "es", "s3", "kms", "elasticmapreduce", "ec2"}


def test_opensearch_domain_is_encrypted_and_not_open() -> None:
    domain = load_template(MAIN)["Resources"]["SearchDomain"]["Properties"]
    assert domain["EncryptionAtRestOptions"]["Enabled"] is True
    assert domain["NodeToNodeEncryptionOptions"]["Enabled"] is True
    assert domain["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert domain["DomainEndpointOptions"]["TLSSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    open_to_all = [s for s in domain["AccessPolicies"]["Statement"] if s["Principal"] == {"AWS": "*"}]
    assert [s["Condition"] for s in open_to_all] == [
        {"IpAddress": {"aws:SourceIp": [{"Ref": "DashboardAllowedCidr"}]}}
    ]


def test_bucket_blocks_public_access_encrypts_and_refuses_plain_http() -> None:
    resources = load_template(MAIN)["Resources"]
    bucket = resources["Bucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "aws:kms"
    (deny,) = resources["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_stream_and_topic_are_kms_encrypted() -> None:
    resources = load_template(MAIN)["Resources"]
    assert resources["SensorStream"]["Properties"]["StreamEncryption"]["EncryptionType"] == "KMS"
    assert resources["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


def test_emr_release_parameter_refuses_releases_without_flink_1_20() -> None:
    import re

    pattern = re.compile(load_template(MAIN)["Parameters"]["EmrReleaseLabel"]["AllowedPattern"])
    assert [label for label in ("emr-7.6.0", "emr-7.10.1", "emr-7.12.0") if pattern.match(label)] == [
        "emr-7.6.0",
        "emr-7.10.1",
        "emr-7.12.0",
    ]
    assert not any(pattern.match(label) for label in ("emr-7.5.0", "emr-6.15.0", "emr-7.0.0"))
