"""Render the options of the job (``jobs.bushfire.config.OPTIONS``) and of the simulator
(``simulator.options.OPTIONS``) as the Markdown tables in docs/job.md and docs/simulator.md.

    python scripts/gen_job_options.py           # rewrite the tables between the markers
    python scripts/gen_job_options.py --check   # exit 1 when a table is out of date (the test runs this)
    python scripts/gen_job_options.py --print   # print the job's table only

The declarations are the one source: flag, environment variable, default and help all come from them,
so the table cannot drift from ``--help``.
"""

from __future__ import annotations

import argparse
import sys
from enum import Enum
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.options import Option, OptionSet, parse_duration_ms  # noqa: E402
from jobs.bushfire.config import OPTIONS  # noqa: E402
from simulator.options import OPTIONS as SIMULATOR_OPTIONS  # noqa: E402

JOB_DOC = ROOT / "docs/job.md"
SIMULATOR_DOC = ROOT / "docs/simulator.md"
TABLES = ((JOB_DOC, OPTIONS), (SIMULATOR_DOC, SIMULATOR_OPTIONS))
BEGIN = "<!-- options:begin -->"
END = "<!-- options:end -->"
UNSET = "–"


def format_duration(ms: int) -> str:
    """A duration as the job reads it back: the largest whole unit (``10min``, ``60s``, ``250ms``)."""
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1_000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def format_default(option: Option) -> str:
    """The default as a user would type it, or a dash when the option is unset by default."""
    value: Any = option.default
    if option.is_switch and value is False:
        return "off"
    if value is None or value == ():
        return UNSET
    if isinstance(value, Enum):
        value = value.value
    elif isinstance(value, bool):
        value = "true" if value else "false"
    elif option.convert is parse_duration_ms:
        value = format_duration(value)
    elif isinstance(value, float):
        value = f"{value:g}"
    return f"`{value}`"


def format_flag(option: Option) -> str:
    if option.is_switch:
        return f"`{option.flag}`"
    if option.is_repeated:
        return f"`{option.flag} KEY=VALUE`"
    choices = option.metavar or getattr(option.convert, "metavar", None)
    if choices:
        return f"`{option.flag} {choices}`"
    return f"`{option.flag}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(options: OptionSet = OPTIONS) -> str:
    """The options table, one row per declared option, in declaration order, `--config` first."""
    example = f", e.g. `{options.config_example}`" if options.config_example else ""
    rows = [
        "| flag | environment variable | default | meaning |",
        "| --- | --- | --- | --- |",
        f"| `--config PATH` | `{options.config_env}` | {UNSET} | JSON file with options keyed by flag name "
        f"without dashes{example} |",
    ]
    for option in options:
        rows.append(
            f"| {format_flag(option)} | `{option.env}` | {format_default(option)} | {_cell(option.help)} |"
        )
    return "\n".join(rows) + "\n"


def with_table(document: str, table: str) -> str:
    """`document` with the text between the markers replaced by `table`."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"an options table's document needs the markers {BEGIN} and {END}, in that order")
    return document[: start + len(BEGIN)] + "\n" + table + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when a table is out of date")
    mode.add_argument("--print", action="store_true", help="print the table instead of writing it")
    args = parser.parse_args(argv)
    if args.print:
        sys.stdout.write(render_table())
        return 0
    stale = []
    for document, options in TABLES:
        current = document.read_text(encoding="utf-8")
        wanted = with_table(current, render_table(options))
        if current == wanted:
            continue
        stale.append(document.relative_to(ROOT).as_posix())
        if not args.check:
            document.write_text(wanted, encoding="utf-8")
    if stale and args.check:
        print(f"{', '.join(stale)}: the options table is out of date; run python scripts/gen_job_options.py")
        return 1
    for name in stale:
        print(f"{name}: options table rewritten")
    return 0

if __name__ == "__main__":
    sys.exit(main())
