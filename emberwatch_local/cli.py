"""``emberwatch-local up|down|status``: the production path's stand-ins on 127.0.0.1, no Docker.

``eval "$(emberwatch-local up --kinesis --sns --opensearch)"`` starts them (each once: a second `up`
keeps what runs), waits until each is healthy and prints the ``export`` lines the simulator, the job,
boto3 and opensearch-py read. Progress and errors go to stderr, so only the exports are evaluated.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Optional

from emberwatch_local import stack
from emberwatch_local.services import COMMON_EXPORTS, SERVICES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emberwatch-local", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start stand-ins (all three when none is named)")
    for name, service in SERVICES.items():
        start.add_argument(f"--{name}", action="store_true", help=f"start {name}")
        start.add_argument(f"--{name}-port", type=int, default=None,
                           help=f"its port on 127.0.0.1 (default {service.default_port})")
    stop = commands.add_parser("down", help="stop what `up` started")
    stop.add_argument("names", nargs="*", choices=[*SERVICES, []], help="only these (default: all)")
    commands.add_parser("status", help="what runs where")
    commands.add_parser("env", help="print the export lines for what runs")
    return parser


def exports(running: dict[str, stack.Running]) -> str:
    values = dict(COMMON_EXPORTS)
    for name, entry in running.items():
        values.update(SERVICES[name].exports(entry.url))
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "up":
        wanted = [name for name in SERVICES if getattr(args, name)] or list(SERVICES)
        for name in wanted:
            was_running = name in stack.load()
            try:
                entry = stack.up(name, getattr(args, f"{name}_port"))
            except stack.StackError as exc:
                print(f"emberwatch-local: {exc}", file=sys.stderr)
                return 1
            verb = "already running" if was_running else "started"
            print(f"emberwatch-local: {name} {verb} at {entry.url} (log {entry.log})", file=sys.stderr)
        print(exports(stack.load()))
    elif args.command == "down":
        stopped = stack.down(args.names or None)
        print(f"emberwatch-local: stopped {', '.join(stopped) or 'nothing (nothing was running)'}",
              file=sys.stderr)
    elif args.command == "status":
        running = stack.load()
        for name in SERVICES:
            entry = running.get(name)
            state = f"running at {entry.url} (pid {entry.pid}, log {entry.log})" if entry else "stopped"
            print(f"{name:<11} {state}")
    else:
        print(exports(stack.load()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
