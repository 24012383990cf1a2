"""Fixtures for the simulator tests: a kinesis-local emulator and an in-process moto server."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
KINESIS_LOCAL = ROOT / "tools" / "node_modules" / "kinesis-local"


@pytest.fixture(scope="session")
def kinesis_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """kinesis-local (npm) on 127.0.0.1: plain HTTP port for boto3, TLS port moved off its default."""
    node = shutil.which("node")
    if node is None or not (KINESIS_LOCAL / "main.js").exists():
        pytest.fail("kinesis-local needs node and tools/node_modules/kinesis-local (run scripts/setup.sh)")
    port, tls_port = free_port(), free_port()
    env = {
        "KINESIS_MOCK_PLAIN_PORT": str(port),
        "KINESIS_MOCK_TLS_PORT": str(tls_port),
        "KINESIS_MOCK_CERT_PATH": str(KINESIS_LOCAL / "server.json"),
        "CREATE_STREAM_DURATION": "0ms",
        "DELETE_STREAM_DURATION": "0ms",
        "LOG_LEVEL": "WARN",
    }
    log_path = tmp_path_factory.mktemp("kinesis-local") / "kinesis-local.log"
    # Not `running_server`: after heavy use the emulator can take ~10 s to honour SIGTERM, and it
    # keeps nothing worth a clean shutdown, so it is killed outright.
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([node, str(KINESIS_LOCAL / "main.js")], env={**os.environ, **env},
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, 60, proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.kill()
            proc.wait()


@pytest.fixture()
def kinesis_client(kinesis_endpoint: str):
    return boto3.client("kinesis", endpoint_url=kinesis_endpoint, region_name="us-east-1")


@pytest.fixture()
def stream_name(kinesis_client, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh 2-shard stream per test, deleted afterwards."""
    name = "sim-" + request.node.name.replace("_", "-")[:100]
    kinesis_client.create_stream(StreamName=name, ShardCount=2)
    kinesis_client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1})
    yield name
    kinesis_client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


@pytest.fixture(scope="session")
def moto_inprocess() -> Iterator[str]:
    """moto's server in a thread of this process (real HTTP), so tests can look into its backends."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def read_stream(client, stream: str) -> list[tuple[str, str, bytes]]:
    """Every record of every shard, from the start: (shard id, partition key, data)."""
    out = []
    for page in client.get_paginator("list_shards").paginate(StreamName=stream):
        for shard in page["Shards"]:
            it = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                           ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while it:
                resp = client.get_records(ShardIterator=it, Limit=10_000)
                out.extend((shard["ShardId"], r["PartitionKey"], r["Data"]) for r in resp["Records"])
                if not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0:
                    break
                it = resp.get("NextShardIterator")
    return out


@pytest.fixture(autouse=True)
def _no_simulator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process CLI runs must not pick up EMBERWATCH_SIM_* settings from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("EMBERWATCH_SIM_"):
            monkeypatch.delenv(name)
