"""`cep.java_heap.JavaPriorityQueue` against a real `java.util.PriorityQueue` (needs a JDK's javac).

Flink's NFA keeps completed matches in a `java.util.PriorityQueue` ordered by first event only, so
among matches with the same first event the heap's sift operations decide which one is emitted
first (and survives a skip strategy). Random offer / poll / remove sequences with many equal keys
are run through both; the backing arrays must be identical after every step.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from cep.java_heap import JavaPriorityQueue

JAVA_SOURCE = Path(__file__).parent / "java" / "HeapOps.java"


@pytest.fixture(scope="module")
def java_heap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    javac = shutil.which("javac")
    if javac is None:
        pytest.fail("javac not found: scripts/setup.sh ensure_javac installs the JDK this test needs")
    out = tmp_path_factory.mktemp("heapops")
    subprocess.run([javac, "-d", str(out), str(JAVA_SOURCE)], check=True)
    return out


def _random_commands(rng: random.Random, length: int) -> list[str]:
    commands = []
    live: list[int] = []
    next_id = 0
    for _ in range(length):
        roll = rng.random()
        if roll < 0.6 or not live:
            commands.append(f"offer {rng.randint(0, 4)} {next_id}")
            live.append(next_id)
            next_id += 1
        elif roll < 0.8:
            commands.append("poll")
        else:
            doomed = rng.sample(live, rng.randint(0, min(3, len(live))))
            commands.append("remove " + " ".join(map(str, doomed)))
    return commands


def _python_arrays(commands: list[str]) -> list[str]:
    out = []
    queue = JavaPriorityQueue()
    for command in commands:
        words = command.split()
        if words[0] == "offer":
            queue.offer(int(words[1]), int(words[2]))
        elif words[0] == "poll":
            if queue:
                queue.poll()
        elif words[0] == "remove":
            queue.remove_if({int(w) for w in words[1:]}.__contains__)
        else:  # clear
            queue = JavaPriorityQueue()
        out.append("[" + ", ".join(str(i) for i in queue) + "]")
    return out


def test_same_array_as_java_after_every_offer_poll_and_remove(java_heap: Path) -> None:
    rng = random.Random(20261202)
    commands: list[str] = []
    for _ in range(300):
        commands += _random_commands(rng, rng.randint(5, 60)) + ["clear"]
    java = subprocess.run(
        ["java", "-cp", str(java_heap), "HeapOps"],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    expected = java.stdout.splitlines()
    got = _python_arrays(commands)
    assert len(got) == len(expected) == len(commands)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"after command {i} ({commands[i]!r}): java {e}, ours {g}"
