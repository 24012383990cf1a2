"""The stand-ins `emberwatch-local` runs: how each starts, when it is healthy, what it exports."""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from emberwatch_local import opensearch
from jobs.bushfire.connector import PROJECT_ROOT, kinesis_connector_jar

REGION = "us-east-1"
#: Dummy credentials: the emulators accept any, and boto3 and the connector need some.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
KINESIS_LOCAL = PROJECT_ROOT / "tools" / "node_modules" / "kinesis-local"


@dataclass(frozen=True)
class Launch:
    """A prepared start: the command, its environment, and extra ports it also takes."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    extra_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    default_port: int
    prepare: Callable[[int, Path], Launch]  # (port, its folder) -> what to run
    healthy: Callable[[str], bool]  # url -> ready?
    exports: Callable[[str], dict[str, str]]  # url -> shell variables
    start_timeout_s: float


def _http_ok(url: str, body: bytes | None = None, headers: Mapping[str, str] = ()) -> bytes | None:
    request = urllib.request.Request(url, data=body, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.read()
    except OSError:
        return None


# -- kinesis-local ----------------------------------------------------------------------------------

def _kinesis_launch(port: int, folder: Path) -> Launch:
    node = shutil.which("node")
    if node is None or not (KINESIS_LOCAL / "main.js").is_file():
        raise RuntimeError("kinesis-local is not installed: run scripts/setup.sh's ensure_kinesis_local")
    tls_port = port + 1
    env = {
        "KINESIS_MOCK_PLAIN_PORT": str(port),
        "KINESIS_MOCK_TLS_PORT": str(tls_port),
        "KINESIS_MOCK_CERT_PATH": str(KINESIS_LOCAL / "server.json"),
        "CREATE_STREAM_DURATION": "0ms",
        "DELETE_STREAM_DURATION": "0ms",
        "UPDATE_STREAM_DURATION": "0ms",
        "LOG_LEVEL": "WARN",
    }
    return Launch([node, str(KINESIS_LOCAL / "main.js")], env, (tls_port,))


def _kinesis_healthy(url: str) -> bool:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("kinesis", endpoint_url=url, region_name=REGION, **_lower(CREDENTIALS),
                          config=Config(connect_timeout=2, read_timeout=2, retries={"max_attempts": 0}))
    try:
        client.list_streams()
    except (BotoCoreError, ClientError):
        return False
    return True


def _lower(credentials: Mapping[str, str]) -> dict[str, str]:
    return {"aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"]}


def _kinesis_exports(url: str) -> dict[str, str]:
    exports = {
        "EMBERWATCH_KINESIS_ENDPOINT": url,
        "BUSHFIRE_KINESIS_ENDPOINT": url,
        "BUSHFIRE_KINESIS_REGION": REGION,
        "EMBERWATCH_SIM_ENDPOINT_URL": url,
        "EMBERWATCH_SIM_AWS_REGION": REGION,
    }
    jar = kinesis_connector_jar({})
    if jar.is_file():
        exports["BUSHFIRE_CONNECTOR_JARS"] = str(jar)
    return exports


# -- moto_server (SNS, SQS) -------------------------------------------------------------------------

def _moto_launch(port: int, folder: Path) -> Launch:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        raise RuntimeError("moto_server is not installed: pip install 'moto[server]'")
    return Launch([exe, "-H", "127.0.0.1", "-p", str(port)])


def _moto_healthy(url: str) -> bool:
    return _http_ok(f"{url}/moto-api/data.json") is not None


def _moto_exports(url: str) -> dict[str, str]:
    return {"EMBERWATCH_SNS_ENDPOINT": url, "BUSHFIRE_SNS_ENDPOINT": url, "BUSHFIRE_SNS_REGION": REGION}


# -- OpenSearch -------------------------------------------------------------------------------------

def _opensearch_launch(port: int, folder: Path) -> Launch:
    home = opensearch.distribution()
    transport_port = port + 100
    argv, env = opensearch.command(home, opensearch.unprivileged_folder(folder), port, transport_port)
    return Launch(argv, env, (transport_port,))


def _opensearch_healthy(url: str) -> bool:
    body = _http_ok(f"{url}/_cluster/health")
    return body is not None and json.loads(body).get("status") in ("green", "yellow")


def _opensearch_exports(url: str) -> dict[str, str]:
    return {"EMBERWATCH_OPENSEARCH_URL": url, "BUSHFIRE_OPENSEARCH_URL": url}


SERVICES = {
    "kinesis": Service("kinesis", 4567, _kinesis_launch, _kinesis_healthy, _kinesis_exports, 60),
    "sns": Service("sns", 5055, _moto_launch, _moto_healthy, _moto_exports, 60),
    "opensearch": Service("opensearch", 9200, _opensearch_launch, _opensearch_healthy,
                          _opensearch_exports, 180),
}
COMMON_EXPORTS = {**CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
