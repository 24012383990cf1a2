"""Import the OpenSearch Dashboards saved objects (index pattern, visualizations, dashboard).

Uses the Dashboards saved-objects import API: a multipart upload of the NDJSON file to
`/_dashboards/api/saved_objects/_import?overwrite=true`, with the `osd-xsrf` header Dashboards demands
of every write, signed with SigV4 (IAM), basic auth (fine-grained access control users) or nothing
(an IP-restricted domain).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from infra.errors import DeployError

logger = logging.getLogger(__name__)

SAVED_OBJECTS = Path(__file__).parent / "dashboards" / "emberwatch.ndjson"
IMPORT_PATH = "/_dashboards/api/saved_objects/_import"
AUTH_MODES = ("sigv4", "basic", "none")
TIMEOUT_S = 60


@dataclass(frozen=True)
class ImportResult:
    """How many objects Dashboards imported, and the ones it refused with why."""

    success_count: int
    errors: tuple[str, ...]


def read_saved_objects(path: Path = SAVED_OBJECTS) -> list[dict[str, Any]]:
    """Parse the NDJSON file (one saved object per non-empty line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def request_auth(mode: str, region: str | None = None, boto3_session: Any = None, basic: tuple | None = None):
    """A `requests` auth object for the chosen mode."""
    if mode == "none":
        return None
    if mode == "basic":
        if not basic or not basic[0] or not basic[1]:
            raise DeployError(
                "--auth basic needs --user and a password (--password or EMBERWATCH_OS_PASSWORD)."
            )
        return requests.auth.HTTPBasicAuth(*basic)
    if mode == "sigv4":
        import boto3
        from opensearchpy import RequestsAWSV4SignerAuth

        session = boto3_session or boto3.session.Session()
        credentials = session.get_credentials()
        region_name = region or session.region_name
        if credentials is None or not region_name:
            raise DeployError(
                "SigV4 needs AWS credentials and a region: set AWS_PROFILE/AWS_REGION, "
                "or use --auth basic/none."
            )
        return RequestsAWSV4SignerAuth(credentials, region_name, "es")
    raise DeployError(f"Unknown auth mode {mode!r}: choose one of {', '.join(AUTH_MODES)}.")


def import_saved_objects(base_url: str, auth: Any, path: Path = SAVED_OBJECTS) -> ImportResult:
    """POST the saved objects to Dashboards' import API (overwriting objects with the same ids).

    Raises
    ------
    DeployError
        On HTTP errors, with the likely fix (network allow-list, role, credentials).
    """
    url = base_url.rstrip("/") + IMPORT_PATH
    files = {"file": (path.name, path.read_bytes(), "application/ndjson")}
    try:
        response = requests.post(
            url,
            params={"overwrite": "true"},
            headers={"osd-xsrf": "true"},
            files=files,
            auth=auth,
            timeout=TIMEOUT_S,
        )
    except requests.RequestException as exc:
        raise DeployError(f"Cannot reach {url}: {exc}. Check the domain endpoint and your network.") from exc
    if response.status_code in (401, 403):
        raise DeployError(
            f"Dashboards refused the import ({response.status_code}: {response.text[:200]}). "
            "Your IP must be in the stack's DashboardAllowedCidr, or your signed identity allowed by the "
            "domain's access policy."
        )
    if response.status_code >= 300:
        raise DeployError(f"Dashboards import failed ({response.status_code}): {response.text[:500]}")
    body = response.json()
    errors = tuple(
        f"{e.get('type')}/{e.get('id')}: {e.get('error', {}).get('type', e.get('error'))}"
        for e in body.get("errors", [])
    )
    return ImportResult(int(body.get("successCount", 0)), errors)
