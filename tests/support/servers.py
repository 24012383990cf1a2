"""Start and stop local stand-in servers (moto, kinesis-local, ...) for tests, on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

_LOWEST_PORT = 20_000
_picker = random.Random()


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands out for outgoing connections and bind(0)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now and outside the kernel's ephemeral range.

    A port from bind(0) is ephemeral: between this call and the server's own bind, any outgoing
    connection of a parallel test (a JVM, a boto3 client) may be given it. Ports below the range are
    only ever taken by an explicit bind, so the gap can lose only to another test's pick.
    """
    low, _ = _ephemeral_range()
    if low - _LOWEST_PORT < 1_000:
        return _bind_zero()
    for _ in range(200):
        port = _picker.randrange(_LOWEST_PORT, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return _bind_zero()


def free_port_pair() -> int:
    """A port p with p and p + 1 free on 127.0.0.1 (for a server that takes p + 1 too, as kinesis-local
    does for TLS)."""
    for _ in range(20):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port + 1))
            return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


def _bind_zero() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Block until something accepts connections on 127.0.0.1:port, or raise with the reason."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout_s}s")


@contextlib.contextmanager
def running_server(
    argv: Sequence[str],
    port: int,
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    timeout_s: float = 60.0,
) -> Iterator[subprocess.Popen]:
    """Run a server process for the duration of the block; its output goes to `log_path` if given."""
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, timeout_s, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            log.close()
