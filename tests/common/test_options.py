"""common.options: one declaration gives the flag, the environment variable, the config-file key and the
help, and one precedence: flag > environment variable > config file > default."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

import pytest

from common.options import (
    NEGATABLE,
    REPEATED,
    SWITCH,
    Option,
    OptionError,
    OptionSet,
    apply_targets,
    one_of,
    parse_bool,
    parse_duration_ms,
)


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    window_ms: int = 60_000
    colour: Colour = Colour.RED


@dataclass(frozen=True)
class Settings:
    inner: Inner = field(default_factory=Inner)
    count: int = 3
    name: str = "plain"
    loud: bool = False
    tags: tuple = ()


def option_set() -> OptionSet:
    return OptionSet(
        [
            Option("--count", int, "how many", target="count"),
            Option("--name", help="a name", target="name"),
            Option("--window", parse_duration_ms, "a duration", target="inner.window_ms"),
            Option("--colour", one_of(Colour), "a colour", target="inner.colour"),
            Option("--loud", parse_bool, "louder", kind=SWITCH, target="loud"),
            Option("--tag", lambda v: tuple(v.split(",") if isinstance(v, str) else v), "tags",
                   kind=REPEATED, env="DEMO_TAGS", target="tags"),
            Option("--early", parse_bool, "early", kind=NEGATABLE, default=True),
        ],
        prog="demo",
        description="a demo",
        env_prefix="DEMO_",
    ).defaults_from(Settings())


def test_each_option_is_set_by_flag_over_environment_over_file_over_default(tmp_path) -> None:
    options = option_set()
    config = tmp_path / "demo.json"
    config.write_text(json.dumps({"count": 7, "name": "from-file", "window": "2min"}))
    values, _ = options.resolve(
        ["--config", str(config), "--count", "9"], env={"DEMO_COUNT": "8", "DEMO_NAME": "from-env"}
    )
    assert values["count"] == 9  # flag beats environment and file
    assert values["name"] == "from-env"  # environment beats file
    assert values["window"] == 120_000  # file beats default, converted like a flag
    assert values["colour"] is Colour.RED  # the dataclass field's default
    assert values["early"] is True and values["loud"] is False and values["tag"] == ()


def test_defaults_come_from_the_target_fields_and_values_go_back_into_them() -> None:
    options = option_set()
    assert {o.dest: o.default for o in options if o.target} == {
        "count": 3, "name": "plain", "window": 60_000, "colour": Colour.RED, "loud": False, "tag": (),
    }  # fmt: skip
    values, _ = options.resolve(["--colour", "BLUE", "--window", "5s", "--tag", "a", "--tag", "b"], env={})
    settings = apply_targets(Settings(), options, values)
    assert settings == Settings(inner=Inner(window_ms=5_000, colour=Colour.BLUE), tags=("a", "b"))


def test_environment_names_come_from_the_prefix_unless_declared() -> None:
    options = option_set()
    assert [o.env for o in options] == [
        "DEMO_COUNT", "DEMO_NAME", "DEMO_WINDOW", "DEMO_COLOUR", "DEMO_LOUD", "DEMO_TAGS", "DEMO_EARLY",
    ]  # fmt: skip
    values, _ = options.resolve([], env={"DEMO_TAGS": "x,y", "DEMO_LOUD": "yes", "DEMO_EARLY": "false"})
    assert (values["tag"], values["loud"], values["early"]) == (("x", "y"), True, False)
    values, _ = options.resolve(["--early"], env={"DEMO_EARLY": "false"})
    assert values["early"] is True  # --early beats the environment's false


def test_the_config_file_can_be_named_by_the_environment_and_takes_either_key_spelling(tmp_path) -> None:
    config = tmp_path / "demo.json"
    config.write_text(json.dumps({"colour": "blue", "--count": 4}))
    values, _ = option_set().resolve([], env={"DEMO_CONFIG": str(config)})
    assert (values["colour"], values["count"]) == (Colour.BLUE, 4)


def test_an_empty_environment_variable_is_a_value_not_an_absence() -> None:
    values, _ = option_set().resolve([], env={"DEMO_NAME": ""})
    assert values["name"] == ""  # "empty string: none" options rely on this


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--count", "many"], {}, r"--count \(from flag\): invalid literal"),
        ([], {"DEMO_COUNT": "many"}, r"--count \(from env DEMO_COUNT\)"),
        ([], {"DEMO_COLOUR": "green"}, "'green' is not one of: red, blue"),
        ([], {"DEMO_WINDOW": "soon"}, "10min"),
        ([], {"DEMO_LOUD": "perhaps"}, "use true/false"),
    ],
)
def test_a_bad_value_names_the_option_and_where_it_came_from(argv, env, message) -> None:
    with pytest.raises(OptionError, match=message):
        option_set().resolve(argv, env)


def test_a_bad_config_file_value_names_the_file_as_its_source(tmp_path) -> None:
    config = tmp_path / "demo.json"
    config.write_text(json.dumps({"count": "many"}))
    with pytest.raises(OptionError, match=r"--count \(from config file\)"):
        option_set().resolve(["--config", str(config)], env={})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ("[1]", "must hold a JSON object"),
        ('{"cuont": 1}', r"unknown options \['cuont'\]"),
    ],
)
def test_an_unusable_config_file_says_what_is_wrong(tmp_path, content: str, message: str) -> None:
    config = tmp_path / "demo.json"
    config.write_text(content)
    with pytest.raises(OptionError, match=message):
        option_set().resolve(["--config", str(config)], env={})
    with pytest.raises(OptionError, match="cannot read it"):
        option_set().resolve(["--config", str(tmp_path / "missing.json")], env={})


def test_help_shows_each_flag_with_its_environment_variable_and_default() -> None:
    text = " ".join(option_set().arg_parser().format_help().split())
    assert "--count COUNT how many (env DEMO_COUNT; default 3)" in text
    assert "--colour {red,blue} a colour (env DEMO_COLOUR; default 'red')" in text
    assert "--early, --no-early" in text and "(env DEMO_CONFIG)" in text


def test_an_option_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        OptionSet([Option("--count", int), Option("--count", float)], prog="x", description="",
                  env_prefix="X_")
