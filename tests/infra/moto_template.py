"""The stack template cut down to what moto's CloudFormation can create.

moto_server has no CloudFormation model for three of our resource types, so the test stack drops them:
`AWS::OpenSearchService::Domain` (SearchDomain), `AWS::IoT::TopicRule` (SensorTopicRule) and
`AWS::S3::BucketPolicy` (BucketPolicy). Outputs that read the domain's endpoint get a fixed placeholder
endpoint instead. Everything else (key, bucket, stream, topic, roles, security configuration, the EMR
cluster and its steps' conditions) is the real template. `AWS::EMR::Step` is also unmodelled, so the
template's own job step is checked separately against the CLI's (test_steps.py).
"""

from __future__ import annotations

import json
from typing import Any

from infra.stack import TEMPLATE_PATH
from tests.infra.iam_rules import load_template

UNSUPPORTED_BY_MOTO = {
    "SearchDomain": "AWS::OpenSearchService::Domain",
    "SensorTopicRule": "AWS::IoT::TopicRule",
    "BucketPolicy": "AWS::S3::BucketPolicy",
}
PLACEHOLDER_DOMAIN_ENDPOINT = "search-emberwatch-test.us-east-1.es.amazonaws.com"


def _replace_domain_endpoint(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _replace_domain_endpoint(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_domain_endpoint(v) for v in value]
    if isinstance(value, str):
        return str(value).replace("${SearchDomain.DomainEndpoint}", PLACEHOLDER_DOMAIN_ENDPOINT)
    return value


def moto_template_body() -> str:
    """The real template minus the resources moto cannot model, as JSON."""
    template = json.loads(json.dumps(load_template(TEMPLATE_PATH)))
    for logical_id, resource_type in UNSUPPORTED_BY_MOTO.items():
        assert template["Resources"].pop(logical_id)["Type"] == resource_type
    template["Outputs"] = _replace_domain_endpoint(template["Outputs"])
    return json.dumps(template)
