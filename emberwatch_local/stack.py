"""Start, stop and list the stand-ins; what runs is recorded in ``<state dir>/state.json``.

Each service runs in its own process group (so `down` stops it and whatever it started, and nothing
else), logs to ``<state dir>/logs/<name>.log``, and counts as up only once its health check passes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from emberwatch_local.services import SERVICES, Service
from jobs.bushfire.connector import PROJECT_ROOT

ENV_STATE_DIR = "EMBERWATCH_LOCAL_DIR"


class StackError(RuntimeError):
    """A one-line reason why a stand-in could not be started."""


@dataclass(frozen=True)
class Running:
    name: str
    pid: int
    url: str
    log: str


def state_dir() -> Path:
    return Path(os.environ.get(ENV_STATE_DIR) or PROJECT_ROOT / ".cache" / "local-stack")


def _state_file() -> Path:
    return state_dir() / "state.json"


def load() -> dict[str, Running]:
    """The recorded services that are still alive."""
    try:
        raw = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return {}
    return {name: Running(**entry) for name, entry in raw.items() if _alive(entry["pid"])}


def _save(running: dict[str, Running]) -> None:
    _state_file().parent.mkdir(parents=True, exist_ok=True)
    _state_file().write_text(json.dumps({name: vars(r) for name, r in running.items()}, indent=1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def up(name: str, port: int | None = None) -> Running:
    """Start service `name` unless it already runs (then return it as it is); wait until healthy."""
    running = load()
    if name in running:
        return running[name]
    service: Service = SERVICES[name]
    port = port or service.default_port
    folder = state_dir() / name
    logs = state_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        launch = service.prepare(port, folder)
    except Exception as exc:  # a missing tool or a failed download: one line, no trace
        raise StackError(f"{name}: {exc}") from exc
    for needed in (port, *launch.extra_ports):
        if _port_taken(needed):
            raise StackError(f"{name}: port {needed} on 127.0.0.1 is taken (pick another: --{name}-port)")
    log_path = logs / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(launch.argv, env={**os.environ, **launch.env}, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + service.start_timeout_s
    while not service.healthy(url):
        if proc.poll() is not None:
            raise StackError(f"{name}: exited with code {proc.returncode} while starting; see {log_path}")
        if time.monotonic() > deadline:
            _stop_group(proc.pid)
            raise StackError(f"{name}: not healthy after {service.start_timeout_s:.0f} s; see {log_path}")
        time.sleep(0.5)
    entry = Running(name, proc.pid, url, str(log_path))
    _save({**load(), name: entry})
    return entry


def down(names: list[str] | None = None) -> list[str]:
    """Stop the services `up` started (all of them, or `names`); return the ones stopped."""
    running = load()
    stopped = []
    for name in names or list(running):
        entry = running.pop(name, None)
        if entry is not None:
            _stop_group(entry.pid)
            stopped.append(name)
    _save(running)
    return stopped


def _stop_group(pid: int, grace_s: float = 15.0) -> None:
    """SIGTERM the process group `pid` leads, then SIGKILL it if it outlives `grace_s`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _alive(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
