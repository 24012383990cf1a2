"""What the soak benchmark watches: the job's processes (memory, CPU) and the lines its source has read.

Linux only (reads /proc). A local PyFlink run is three processes: the job's Python client, the JVM it
starts (the mini-cluster, the JVM parse) and the Python worker the JVM starts for the Python
operators (in process mode; the operators themselves may run in the client's loopback worker, so its
CPU counts them); `role` names them so, and the benchmark's own processes ``bench`` and ``producer``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import requests

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and every descendant (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


@dataclass(frozen=True)
class ProcessSample:
    """One process at one moment: resident and peak resident memory (MiB), CPU seconds so far."""

    pid: int
    role: str
    rss_mib: int
    peak_mib: int
    cpu_s: float


def sample(pid: int, role: str) -> Optional[ProcessSample]:
    """`pid`'s memory (/proc/<pid>/status: VmRSS, VmHWM) and CPU (/proc/<pid>/stat); None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

    def mib(key: str) -> int:
        return int(fields.get(key, "0 kB").split()[0]) // 1024

    cpu = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
    return ProcessSample(pid, role, mib("VmRSS"), mib("VmHWM"), cpu)


def job_role(pid: int, client_pid: int) -> str:
    """``job client``, ``JVM``, ``Python worker`` or the process's own name."""
    if pid == client_pid:
        return "job client"
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if comm == "java":
        return "JVM"
    if "python" in comm and ("pyflink" in cmdline or "beam" in cmdline):
        return "Python worker"
    return comm


def job_samples(client_pid: int) -> list[ProcessSample]:
    """Every live process of the job started as `client_pid`."""
    found = (sample(pid, job_role(pid, client_pid)) for pid in process_tree(client_pid))
    return [s for s in found if s is not None and s.role != "gone"]


class SourceCounter:
    """Lines the job's source has read, from the REST API: its operator's `counter`, summed over subtasks
    (``numRecordsIn`` for the file sources, ``numRecordsOut`` for the legacy Kinesis consumer).

    Flink's REST API answers a metric request from its cache and only then fetches anew (at most every
    ``metrics.fetcher.update-interval``), so an answer is as old as the request before it: polled every
    15 s, a count 15 s old. `read` and `gauges` therefore ask, wait `settle_s` for the fetch their
    request started, and ask again: the values are then as of the first request.
    """

    def __init__(self, port: int, counter: str = "numRecordsIn", settle_s: float = 1.5) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.counter = counter
        self.settle_s = settle_s
        self.job: Optional[str] = None
        self.metric: list[str] = []
        self.vertex: Optional[str] = None

    def read(self) -> Optional[int]:
        """The count, or None while the job or its metric is not there yet (or the REST API is down)."""
        try:
            if self.job is None:
                jobs = requests.get(self.base + "/jobs", timeout=5).json()["jobs"]
                running = [j["id"] for j in jobs if j["status"] == "RUNNING"]
                if not running:
                    return None
                self.job = running[0]
            if not self.metric:  # none until the job's operators have registered them
                vertices = requests.get(f"{self.base}/jobs/{self.job}", timeout=5).json()["vertices"]
                self.vertex = next(v["id"] for v in vertices if v["name"].startswith("Source"))
                ids = [m["id"] for m in requests.get(self._metrics_url(), timeout=5).json()]
                # A FLIP-27 source reader counts what it emits as its operator's numRecordsIn.
                self.metric = [i for i in ids if ".Source" in i and i.endswith(f".{self.counter}")]
                if not self.metric:
                    return None
            got = self._fresh({"get": ",".join(self.metric)})
            return int(sum(float(m["value"]) for m in got))
        except (requests.RequestException, ValueError, KeyError, StopIteration):
            return None

    def _metrics_url(self) -> str:
        return f"{self.base}/jobs/{self.job}/vertices/{self.vertex}/metrics"

    def _fresh(self, params: dict[str, str]) -> list[dict]:
        """The source vertex's metric values as of now (see the class's docstring)."""
        requests.get(self._metrics_url(), params=params, timeout=5)
        time.sleep(self.settle_s)
        return requests.get(self._metrics_url(), params=params, timeout=5).json()

    def gauges(self, suffix: str) -> dict[str, float]:
        """The source vertex's numeric metrics whose id ends with `suffix` (looked up each time: a
        Kinesis consumer adds a gauge per shard as it finds them); empty while unknown."""
        if self.vertex is None:
            return {}
        try:
            ids = [m["id"] for m in requests.get(self._metrics_url(), timeout=5).json()]
            wanted = ",".join(i for i in ids if i.endswith(suffix))
            if not wanted:
                return {}
            got = self._fresh({"get": wanted})
            return {m["id"]: float(m["value"]) for m in got}
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return {}

    def input_watermarks(self) -> dict[str, float]:
        """Every operator's input watermark (``<vertex>/<subtask>.<operator>.currentInputWatermark``),
        sources left out. Python operators hold a watermark until their bundle is finished, so once
        every one is past a reading's timestamp, that reading has been through the whole job."""
        marks: dict[str, float] = {}
        try:
            for vertex in requests.get(f"{self.base}/jobs/{self.job}", timeout=5).json()["vertices"]:
                if vertex["name"].startswith("Source"):
                    continue
                url = f"{self.base}/jobs/{self.job}/vertices/{vertex['id']}/metrics"
                ids = [m["id"] for m in requests.get(url, timeout=5).json()]
                ids = [i for i in ids if i.endswith(".currentInputWatermark") and ".Source" not in i]
                for start in range(0, len(ids), 20):  # a few ids per request keeps the URL short
                    got = requests.get(
                        url, params={"get": ",".join(ids[start : start + 20])}, timeout=5
                    ).json()
                    marks.update({f"{vertex['name']}/{m['id']}": float(m["value"]) for m in got})
        except (requests.RequestException, ValueError, KeyError):
            return {}
        return marks
