"""Command-line options declared once: flag, environment variable, config-file key, default and help.

The job and the simulator each list their options as :class:`Option` values in an :class:`OptionSet`;
from that one list come the argparse parser (and so ``--help``), the environment variables, the JSON
``--config`` file's keys and the docs' options tables. :meth:`OptionSet.resolve` applies the one
precedence, flag > environment variable > config file > default, and converts every value with the
option's own converter, so a value reads the same wherever it was given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Optional

#: How an option appears on the command line.
VALUE = "value"  # --name VALUE
SWITCH = "switch"  # --name (turns it on; off unless given)
NEGATABLE = "negatable"  # --name / --no-name
REPEATED = "repeated"  # --name VALUE, several times: a list


class OptionError(ValueError):
    """A value cannot be read, or a config file is unusable; the message says what to change."""


@dataclass(frozen=True)
class Option:
    """One configurable value.

    ``target`` is the dotted path of the field it sets in the program's config dataclass (e.g.
    ``detection.threshold_c``); :meth:`OptionSet.defaults_from` then takes the default from that field,
    so a default is written once. ``env`` overrides the name the option set derives from its prefix.
    """

    flag: str
    convert: Callable[[Any], Any] = str
    help: str = ""
    default: Any = None
    kind: str = VALUE
    env: Optional[str] = None
    target: Optional[str] = None
    metavar: Optional[str] = None
    group: Optional[str] = None

    @property
    def dest(self) -> str:
        """The option's Python name, also its config-file key (``--alerts-out`` -> ``alerts_out``)."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def is_switch(self) -> bool:
        return self.kind == SWITCH

    @property
    def is_negatable(self) -> bool:
        return self.kind == NEGATABLE

    @property
    def is_repeated(self) -> bool:
        return self.kind == REPEATED


class OptionSet:
    """A program's options, the parser and the resolver built from them.

    ``env_prefix`` names each option's environment variable (``BUSHFIRE_`` + ``THRESHOLD``) unless the
    option gives its own; ``config_env`` is the variable that names a config file when ``--config`` is
    not given.
    """

    def __init__(
        self,
        options: Sequence[Option],
        *,
        prog: str,
        description: str,
        env_prefix: str,
        config_env: Optional[str] = None,
        config_example: str = "",
        epilog: str = "Precedence: flag > environment variable > --config file > default.",
    ) -> None:
        self.options = tuple(
            option if option.env else dataclasses.replace(option, env=env_prefix + option.dest.upper())
            for option in options
        )
        self.prog, self.description, self.epilog = prog, description, epilog
        self.config_env = config_env or env_prefix + "CONFIG"
        self.config_example = config_example
        dests = [option.dest for option in self.options]
        duplicates = sorted({dest for dest in dests if dests.count(dest) > 1})
        if duplicates or "config" in dests:
            raise ValueError(f"options declared twice (or named 'config'): {duplicates or ['config']}")

    def __iter__(self):
        return iter(self.options)

    def __len__(self) -> int:
        return len(self.options)

    def defaults_from(self, config: Any) -> OptionSet:
        """The same options with each ``target``'s default read from the dataclass instance ``config``."""
        copy = object.__new__(OptionSet)
        copy.__dict__.update(self.__dict__)
        copy.options = tuple(
            dataclasses.replace(option, default=get_path(config, option.target)) if option.target else option
            for option in self.options
        )
        return copy

    # -- the command line ------------------------------------------------------------------------------
    def arg_parser(self) -> argparse.ArgumentParser:
        """The argparse parser; every flag's help names its environment variable and its default.

        Values stay raw strings here (default None: not given) and are converted in :meth:`resolve`, so
        a flag, an environment variable and a config-file value go through the same converter.
        """
        parser = argparse.ArgumentParser(prog=self.prog, description=self.description, epilog=self.epilog)
        parser.add_argument(
            "--config", default=None, metavar="PATH",
            help=f"{self.config_help()} (env {self.config_env})".replace("%", "%%"),
        )
        groups: dict[Optional[str], Any] = {None: parser}
        for option in self.options:
            if option.group not in groups:
                groups[option.group] = parser.add_argument_group(option.group)
            _add_argument(groups[option.group], option)
        return parser

    def config_help(self) -> str:
        """What ``--config`` reads (``--help`` and the docs' tables say it the same way)."""
        example = f", e.g. {self.config_example}" if self.config_example else ""
        return f"JSON file with options keyed by flag name without dashes{example}"

    def resolve(
        self, argv: Optional[Sequence[str]], env: Mapping[str, str]
    ) -> tuple[dict[str, Any], argparse.Namespace]:
        """Every option's value by flag > environment variable > config file > default, converted.

        Returns the values by ``dest`` and the parsed command line (for flags that are not options,
        such as a program's own ``--debug``). Raises :class:`OptionError` naming the option and where
        its bad value came from.
        """
        args = self.arg_parser().parse_args(argv)
        flags = vars(args)
        file_values = self.read_config_file(flags.get("config") or env.get(self.config_env) or None)
        values = {}
        for option in self.options:
            values[option.dest] = resolve_one(option, flags.get(option.dest), env, file_values)
        return values, args

    def read_config_file(self, path: Optional[str]) -> dict[str, Any]:
        """The JSON object in ``path`` keyed by ``dest`` (``alerts-out`` and ``alerts_out`` both work)."""
        if not path:
            return {}
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            reason = exc.strerror or exc
            raise OptionError(f"--config {path}: cannot read it ({reason}); check the path") from exc
        except ValueError as exc:
            reason = f"not valid JSON ({exc}); it must hold one JSON object"
            raise OptionError(f"--config {path}: {reason}") from exc
        if not isinstance(data, dict):
            raise OptionError(f"config file {path} must hold a JSON object of option names to values")
        values = {str(key).lstrip("-").replace("-", "_"): value for key, value in data.items()}
        unknown = sorted(set(values) - {option.dest for option in self.options})
        if unknown:
            raise OptionError(f"config file {path} has unknown options {unknown}; see --help for the names")
        return values


def resolve_one(option: Option, flag: Any, env: Mapping[str, str], file_values: Mapping[str, Any]) -> Any:
    """One option's value: the first of flag, environment variable, config file that is set, converted;
    else its default (not converted: defaults are already values)."""
    sources = (
        ("flag", flag),
        (f"env {option.env}", env.get(option.env or "")),  # set but empty is a value: "" means none
        ("config file", file_values.get(option.dest)),
    )
    for where, value in sources:
        if value is None:
            continue
        try:
            return option.convert(value)
        except (ValueError, TypeError) as exc:
            raise OptionError(f"{option.flag} (from {where}): {exc}") from exc
    return option.default


def _add_argument(parser: Any, option: Option) -> None:
    text = f"{option.help} (env {option.env}" + (
        f"; default {shown_default(option)})" if shown_default(option) is not None else ")"
    )
    text = text.replace("%", "%%")  # argparse formats help with %
    if option.kind == NEGATABLE:
        parser.add_argument(option.flag, dest=option.dest, action=argparse.BooleanOptionalAction,
                            default=None, help=text)
    elif option.kind == SWITCH:
        parser.add_argument(option.flag, dest=option.dest, action="store_const", const=True, default=None,
                            help=text)
    elif option.kind == REPEATED:
        parser.add_argument(option.flag, dest=option.dest, action="append", default=None,
                            metavar=option.metavar or "KEY=VALUE", help=text)
    else:
        metavar = option.metavar or getattr(option.convert, "metavar", None)
        parser.add_argument(option.flag, dest=option.dest, default=None, metavar=metavar, help=text)


def shown_default(option: Option) -> Optional[str]:
    """The default as ``--help`` shows it, or None when the option is unset by default."""
    value = option.default
    if value is None or value == ():
        return None
    return repr(value.value if isinstance(value, Enum) else value)


# -- paths into nested frozen dataclasses ------------------------------------------------------------------
def get_path(obj: Any, path: str) -> Any:
    """``get_path(cfg, "detection.threshold_c")`` is ``cfg.detection.threshold_c``."""
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def replace_path(obj: Any, path: str, value: Any) -> Any:
    """A copy of the frozen dataclass ``obj`` with the field at ``path`` set to ``value``."""
    head, _, rest = path.partition(".")
    inner = replace_path(getattr(obj, head), rest, value) if rest else value
    return dataclasses.replace(obj, **{head: inner})


def apply_targets(config: Any, options: Sequence[Option], values: Mapping[str, Any]) -> Any:
    """``config`` with every option that has a ``target`` set to its resolved value."""
    for option in options:
        if option.target:
            config = replace_path(config, option.target, values[option.dest])
    return config


# -- converters shared by the job and the simulator -------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?\s*$")
_UNIT_MS = {None: 1, "ms": 1, "s": 1_000, "sec": 1_000, "m": 60_000, "min": 60_000, "h": 3_600_000}


def parse_duration_ms(text: str | int) -> int:
    """Parse ``600000`` (ms), ``250ms``, ``60s``, ``10min``/``10m`` or ``2h`` into milliseconds."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _DURATION.match(str(text))
    if not match:
        msg = f"cannot read duration {text!r}: give milliseconds (600000) or a unit: 250ms, 60s, 10min, 2h"
        raise OptionError(msg)
    return int(float(match.group(1)) * _UNIT_MS[match.group(2)])


def parse_bool(text: str | bool) -> bool:
    """Read a boolean from an environment variable or a config-file value."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise OptionError(f"cannot read boolean {text!r}: use true/false")


def positive_int(text: str | int) -> int:
    """An integer of at least 1."""
    value = int(text)
    if value < 1:
        raise OptionError(f"expected a positive integer, got {text!r}")
    return value


def one_of(kind: type[Enum] | Sequence[str]) -> Callable[[Any], Any]:
    """A converter to a member of the enum ``kind`` (by value, any case) or to one of the strings given.
    Its ``metavar`` lists the choices for ``--help``."""
    members = list(kind)
    names = [str(m.value) if isinstance(m, Enum) else str(m) for m in members]

    def convert(text: Any) -> Any:
        if any(text is m for m in members):
            return text
        for member, name in zip(members, names):
            if str(text).lower() == name.lower():
                return member
        raise OptionError(f"{text!r} is not one of: {', '.join(names)}")

    convert.metavar = "{" + ",".join(names) + "}"  # type: ignore[attr-defined]
    return convert
