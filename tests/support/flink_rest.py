"""Read a running job's metrics through Flink's REST API, as its web UI and monitoring tools do.

A local mini-cluster serves the REST API on `rest.port`; the job is started with that option (and a
short `metrics.fetcher.update-interval`, so values are fresh within a second). Metric ids there look
like ``<subtask>.<operator name>.<group>.<name>``, e.g. ``0.check-readings.bushfire.malformed``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Callable, TypeVar

import requests

T = TypeVar("T")


class FlinkRest:
    """The REST API of one Flink cluster (here: a local mini-cluster on 127.0.0.1)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def _get(self, path: str, **params: str) -> Any:
        response = requests.get(self.base + path, params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def running_job(self) -> str | None:
        """The id of the cluster's one running job, or None while there is none (or no API yet)."""
        try:
            jobs = self._get("/jobs")["jobs"]
        except requests.RequestException:
            return None
        running = [job["id"] for job in jobs if job["status"] == "RUNNING"]
        return running[0] if running else None

    def checkpoint_counts(self, job_id: str) -> dict[str, int]:
        """How many of the job's checkpoints were completed, failed, restored from, ... so far."""
        return self._get(f"/jobs/{job_id}/checkpoints")["counts"]

    def metrics(self, job_id: str, *names: str) -> dict[str, float]:
        """The job's numeric metrics whose id contains one of `names`, from every vertex:
        ``{"<vertex name>/<metric id>": value}``. Gauges without a number yet are left out."""
        values: dict[str, float] = {}
        for vertex in self._get(f"/jobs/{job_id}")["vertices"]:
            path = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
            ids = [m["id"] for m in self._get(path) if any(name in m["id"] for name in names)]
            for start in range(0, len(ids), 20):  # a few ids per request keeps the URL short
                for metric in self._get(path, get=",".join(ids[start : start + 20])):
                    try:
                        values[f"{vertex['name']}/{metric['id']}"] = float(metric["value"])
                    except (TypeError, ValueError):
                        continue
        return values


def total(metrics: Mapping[str, float], suffix: str) -> float:
    """Sum of every metric whose id ends with `suffix` (over subtasks and operators)."""
    return sum(value for key, value in metrics.items() if key.endswith(suffix))


def wait_until(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float) -> T:
    """Poll `read` until `done` holds for what it returned; return that, or the last reading on timeout
    (the caller's assertions then say what is missing)."""
    deadline = time.monotonic() + timeout_s
    last = read()
    while not done(last) and time.monotonic() < deadline:
        time.sleep(0.5)
        last = read()
    return last
