"""Run the bushfire job on the local mini-cluster over a JSONL file and collect what it wrote."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from jobs.bushfire.config import load_config
from jobs.bushfire.environment import create_environment
from jobs.bushfire.parse_udf import choose_parser
from jobs.bushfire.pipeline import build
from simulator import encode_lines
from tests.support.flink import LOCAL_DEFAULTS


@dataclass(frozen=True)
class JobOutput:
    alerts: list[dict]
    dead_letters: list[dict]

    def paths(self) -> list[tuple[str, tuple[str, ...]]]:
        """(region, path) of every alert line, duplicates kept (so a test can see them)."""
        return [(a["region"], tuple(a["path"])) for a in self.alerts]

    def reasons(self) -> set[str]:
        return {d["reason"] for d in self.dead_letters}


def write_jsonl(records: Iterable, path: Path) -> Path:
    """Simulator records (dicts or malformed bytes) as a JSONL file, in the given (arrival) order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        for line in encode_lines(records):
            out.write(line)
    return path


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_job(
    input_path: Path, out_dir: Path, *flags: str, parallelism: int = 1, flink_conf: Optional[dict] = None
) -> JobOutput:
    """Run `python -m jobs.bushfire --source file --input <input_path> ...` in this process, to its end.

    `flink_conf` adds Flink options (e.g. a small Python bundle size, so watermarks move per record).
    """
    alerts, dead = out_dir / "alerts.jsonl", out_dir / "dead-letters.jsonl"
    argv = [
        "--source",
        "file",
        "--input",
        str(input_path),
        "--alerts-out",
        str(alerts),
        "--dead-letters",
        str(dead),
        "--console",
        "false",
        "--parallelism",
        str(parallelism),
        *flags,
    ]
    cfg = load_config(argv, env={})
    parser, jar = choose_parser(cfg.runtime.parser)  # as `python -m jobs.bushfire` does
    env = create_environment(cfg.runtime, [jar] if jar else [], **{**LOCAL_DEFAULTS, **(flink_conf or {})})
    build(env, cfg, parser)
    env.execute("bushfire-test")
    return JobOutput(_read_jsonl(alerts), _read_jsonl(dead))
