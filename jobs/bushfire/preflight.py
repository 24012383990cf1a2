"""Checks run before the Flink job is built, so a user's mistake reads as one line, not a JVM trace.

Each check raises :class:`PreflightError` (exit code 2) whose message names the path or endpoint and
what to do. They look only at what a local user can get wrong: the input, the output folders, a
``file://`` checkpoint or savepoint, connector jars, and the Kinesis stream (one short API call).
Remote storage (``s3://``) is left to Flink, which reports it with the cluster's own credentials.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional

from jobs.bushfire.config import BushfireConfig, KinesisConfig, SourceKind
from jobs.bushfire.errors import PreflightError

#: Seconds the Kinesis check waits for the endpoint (connect and read), one attempt.
KINESIS_TIMEOUT_S = 5


def check_all(cfg: BushfireConfig, kinesis_client: Optional[Callable[[KinesisConfig], Any]] = None) -> None:
    """Run every check that applies to `cfg`; the first failure raises :class:`PreflightError`."""
    if cfg.source.kind is SourceKind.KINESIS:
        check_kinesis(cfg.source.kinesis, kinesis_client or _kinesis_client)
    else:
        check_input(cfg.source.input_path, watched=cfg.source.kind is SourceKind.FILES)
    if cfg.alerts.alerts_out:
        check_output_file(cfg.alerts.alerts_out, "--alerts-out")
    check_output_file(cfg.dead_letters.path, "--dead-letters")
    runtime = cfg.runtime
    if runtime.checkpoint_dir and _local(runtime.checkpoint_dir):
        check_output_folder(_local(runtime.checkpoint_dir), "--checkpoint-dir")
    if runtime.restore_from and _local(runtime.restore_from):
        path = Path(_local(runtime.restore_from))
        if not path.exists():
            raise PreflightError(
                f"--restore-from {path}: no such savepoint or checkpoint; give the folder of a completed "
                "checkpoint (chk-N) or savepoint"
            )
    for jar in runtime.connector_jars:
        if _local(jar) and not Path(_local(jar)).is_file():
            raise PreflightError(
                f"--connector-jars: {_local(jar)} is not a file; download the jar or fix the path"
            )


def _local(path: str) -> Optional[str]:
    """The local path of `path` (plain or file://), None for remote storage (s3://, hdfs://...)."""
    if path.startswith("file://"):
        return path[len("file://") :]
    return None if "://" in path else path


def check_input(path_text: str, watched: bool) -> None:
    """The input file or watched directory exists and can be read."""
    path = Path(path_text)
    flag = "--input"
    if not path.exists():
        if watched:
            raise PreflightError(
                f"{flag} {path}: the watched directory does not exist; create it (mkdir -p {path}) or point "
                f"{flag} at the folder the simulator writes to"
            )
        raise PreflightError(
            f"{flag} {path}: no such file or directory; check the path (relative to {Path.cwd()})"
        )
    if watched and not path.is_dir():
        raise PreflightError(
            f"{flag} {path} is a file, but --source files watches a directory; use --source file to read "
            "one file, or give its folder"
        )
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise PreflightError(
            f"{flag} {path}: permission denied; make it readable (chmod) or copy it elsewhere"
        )
    if path.is_dir():
        unreadable = [p for p in path.iterdir() if p.is_file() and not os.access(p, os.R_OK)]
        if unreadable:
            raise PreflightError(
                f"{flag} {unreadable[0]}: permission denied ({len(unreadable)} unreadable in {path}); "
                "make them readable or move them out"
            )


def check_output_file(path_text: str, flag: str) -> None:
    """The file can be appended to: create its folder and the (empty) file now, as the run would.

    Trying is the only sure test (permissions, read-only mounts, a file where a folder should be), and
    it leaves the empty output file a run with nothing to report should leave anyway.
    """
    path = Path(path_text)
    if path.is_dir():
        raise PreflightError(f"{flag} {path} is a directory; give a file name, e.g. {path / 'out.jsonl'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        why = _blocking_file(path) or exc.strerror or str(exc)
        raise PreflightError(f"{flag} {path}: cannot write it ({why}); choose a writable folder") from exc


def _blocking_file(path: Path) -> Optional[str]:
    """'<ancestor> is a file' when a file stands where one of `path`'s folders should be."""
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a folder"
    return None


def check_output_folder(path_text: str, flag: str) -> None:
    """The folder exists or can be created, and a file can be written in it."""
    folder = Path(path_text)
    probe = folder / f".emberwatch-write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as exc:
        why = _blocking_file(probe) or exc.strerror or str(exc)
        raise PreflightError(
            f"{flag} {folder}: cannot write there ({why}); choose a writable folder"
        ) from exc


def _kinesis_client(kinesis: KinesisConfig) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=KINESIS_TIMEOUT_S, read_timeout=KINESIS_TIMEOUT_S, retries={"total_max_attempts": 1}
    )
    return boto3.session.Session().client(
        "kinesis", region_name=kinesis.region, endpoint_url=kinesis.endpoint, config=config
    )


def check_kinesis(kinesis: KinesisConfig, make_client: Callable[[KinesisConfig], Any]) -> None:
    """The stream exists and the endpoint answers (one DescribeStreamSummary call)."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    where = f"in {kinesis.region}" + (f" at {kinesis.endpoint}" if kinesis.endpoint else "")
    try:
        make_client(kinesis).describe_stream_summary(StreamName=kinesis.stream)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise PreflightError(
                f"Kinesis stream {kinesis.stream!r} not found {where}; create it (aws kinesis create-stream "
                f"--stream-name {kinesis.stream} --shard-count 1) or fix --kinesis-stream/--kinesis-region"
            ) from exc
        raise PreflightError(
            f"Kinesis {where} refused DescribeStreamSummary for {kinesis.stream!r}: {code}: "
            f"{exc.response.get('Error', {}).get('Message', exc)}"
        ) from exc
    except NoCredentialsError as exc:
        raise PreflightError(
            "no AWS credentials for Kinesis: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE "
            "(any values for a local emulator)"
        ) from exc
    except EndpointConnectionError as exc:
        raise PreflightError(
            f"cannot reach the Kinesis endpoint {exc.kwargs.get('endpoint_url', kinesis.endpoint)}; start it "
            "(e.g. the local emulator) or fix --kinesis-endpoint/--kinesis-region"
        ) from exc
    except BotoCoreError as exc:
        raise PreflightError(
            f"Kinesis {where}: {exc}; check --kinesis-endpoint and --kinesis-region"
        ) from exc
