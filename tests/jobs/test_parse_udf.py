"""Building and choosing the Java parser: compiled once per source version, SQL when no JDK is at hand."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from jobs.bushfire import parse_udf
from jobs.bushfire.config import ParserChoice, load_config
from jobs.bushfire.parsing import JvmParser


def test_the_jar_is_built_once_and_named_by_its_source(tmp_path) -> None:
    jar = parse_udf.ensure_jar(tmp_path)
    assert jar == parse_udf.jar_path(tmp_path) and jar.parent == tmp_path
    with zipfile.ZipFile(jar) as archive:
        assert "emberwatch/flink/ParseReading.class" in archive.namelist()
    built_at = jar.stat().st_mtime_ns
    assert parse_udf.ensure_jar(tmp_path) == jar
    assert jar.stat().st_mtime_ns == built_at  # cached, not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == [jar.name]  # no partial files left behind


def test_the_cache_dir_follows_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(parse_udf.ENV_CACHE_DIR, str(tmp_path / "cache"))
    assert parse_udf.jar_path().parent == tmp_path / "cache"


@pytest.fixture
def no_jdk(tmp_path, monkeypatch):
    """A Java runtime but no javac on PATH, and an empty jar cache."""
    bin_dir = tmp_path / "jre-only"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(shutil.which("java"))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv(parse_udf.ENV_CACHE_DIR, str(tmp_path / "cache"))


def test_without_a_jdk_the_error_says_what_to_install(no_jdk) -> None:
    with pytest.raises(parse_udf.NoJdkError, match="javac.*--parser sql"):
        parse_udf.ensure_jar()


def test_auto_falls_back_to_sql_with_a_warning_and_java_insists(no_jdk, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger=parse_udf.__name__):
        assert parse_udf.choose_parser(ParserChoice.AUTO) == (JvmParser.SQL, None)
    assert "slower" in caplog.text
    with pytest.raises(parse_udf.NoJdkError):
        parse_udf.choose_parser(ParserChoice.JAVA)
    assert parse_udf.choose_parser(ParserChoice.SQL) == (JvmParser.SQL, None)


def test_auto_and_java_use_the_built_jar(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(parse_udf.ENV_CACHE_DIR, str(tmp_path))
    for choice in (ParserChoice.AUTO, ParserChoice.JAVA):
        assert parse_udf.choose_parser(choice) == (JvmParser.JAVA, parse_udf.jar_path())


def test_the_parser_flag_and_its_default() -> None:
    assert load_config([], env={}).runtime.parser is ParserChoice.AUTO
    assert load_config(["--parser", "sql"], env={}).runtime.parser is ParserChoice.SQL
    assert load_config([], env={"BUSHFIRE_PARSER": "java"}).runtime.parser is ParserChoice.JAVA


def test_the_command_line_builds_the_jar_and_prints_its_path(tmp_path) -> None:
    env = {**os.environ, parse_udf.ENV_CACHE_DIR: str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "jobs.bushfire.parse_udf"], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(parse_udf.jar_path(tmp_path))
    assert parse_udf.jar_path(tmp_path).is_file()


def test_auto_falls_back_to_sql_when_the_jar_cannot_be_written(tmp_path, monkeypatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be\n")
    monkeypatch.setenv(parse_udf.ENV_CACHE_DIR, str(blocked / "cache"))
    assert parse_udf.choose_parser(ParserChoice.AUTO) == (JvmParser.SQL, None)
    with pytest.raises(OSError):
        parse_udf.choose_parser(ParserChoice.JAVA)
