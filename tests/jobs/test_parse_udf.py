"""The Java parser's jar: built with the package from every source in jobs/bushfire/jvm, refused when
missing or older than its sources, and the parser choice that follows."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from jobs.bushfire import parse_udf, parser_jar
from jobs.bushfire.config import ParserChoice, load_config
from jobs.bushfire.parsing import JvmParser

ROOT = Path(__file__).resolve().parents[2]
EXTRA_CLASS = """package emberwatch.flink;
public final class Extra {
    public static int one() { return 1; }
}
"""


@pytest.fixture
def jvm_dir(tmp_path) -> Path:
    """A copy of the job's Java sources plus one more class, as another engineer would add one."""
    folder = tmp_path / "jvm"
    shutil.copytree(parser_jar.JVM_DIR, folder, ignore=shutil.ignore_patterns("*.jar"))
    (folder / "Extra.java").write_text(EXTRA_CLASS)
    return folder


def test_every_source_of_the_folder_goes_into_one_jar_with_its_digest(jvm_dir: Path) -> None:
    jar = parser_jar.build_jar(jvm_dir / parser_jar.JAR_NAME, jvm_dir)
    with zipfile.ZipFile(jar) as archive:
        entries = [name for name in archive.namelist() if name.endswith(".class")]
    classes = {name.split("/")[-1].split("$")[0] for name in entries}
    sources = [path.name for path in parser_jar.java_sources(jvm_dir)]
    assert "Extra.java" in sources and "ParseReading.java" in sources
    assert {name.replace(".java", ".class") for name in sources} <= classes  # each source compiled
    assert parser_jar.jar_digest(jar) == parser_jar.sources_digest(jvm_dir)
    assert parser_jar.is_current(jar, jvm_dir)
    assert sorted(p.name for p in jvm_dir.iterdir()) == sorted([*sources, jar.name])  # no partial files


def test_the_same_sources_give_the_same_bytes(jvm_dir: Path, tmp_path: Path) -> None:
    """The EMR package is named by its digest, so the jar inside it must be reproducible."""
    first = parser_jar.build_jar(tmp_path / "a" / parser_jar.JAR_NAME, jvm_dir).read_bytes()
    second = parser_jar.build_jar(tmp_path / "b" / parser_jar.JAR_NAME, jvm_dir).read_bytes()
    assert first == second


def test_a_changed_source_makes_the_jar_stale(jvm_dir: Path) -> None:
    jar = parser_jar.build_jar(jvm_dir / parser_jar.JAR_NAME, jvm_dir)
    (jvm_dir / "Extra.java").write_text(EXTRA_CLASS.replace("return 1", "return 2"))
    assert not parser_jar.is_current(jar, jvm_dir)
    for choice in (ParserChoice.AUTO, ParserChoice.JAVA):
        with pytest.raises(parse_udf.StaleJarError, match="pip install -e"):
            parse_udf.choose_parser(choice, jar)


def test_a_source_that_does_not_compile_is_named(jvm_dir: Path) -> None:
    (jvm_dir / "Extra.java").write_text("package emberwatch.flink;\nclass Extra { int x = ; }\n")
    with pytest.raises(parser_jar.JarBuildError, match=r"compiling Extra.java, .*ParseReading.java.* failed"):
        parser_jar.build_jar(jvm_dir / parser_jar.JAR_NAME, jvm_dir)
    assert not (jvm_dir / parser_jar.JAR_NAME).exists()


def test_without_a_jdk_the_build_says_what_to_install(jvm_dir: Path, monkeypatch) -> None:
    bin_dir = jvm_dir.parent / "jre-only"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(shutil.which("java"))
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(parser_jar.NoJdkError, match="no javac on PATH"):
        parser_jar.build_jar(jvm_dir / parser_jar.JAR_NAME, jvm_dir)


def test_without_the_jar_auto_parses_with_sql_and_java_says_how_to_build_it(tmp_path, caplog) -> None:
    missing = tmp_path / parser_jar.JAR_NAME
    with caplog.at_level(logging.WARNING, logger=parse_udf.__name__):
        assert parse_udf.choose_parser(ParserChoice.AUTO, missing) == (JvmParser.SQL, None)
    assert "slower" in caplog.text and "pip install -e ." in caplog.text
    with pytest.raises(parse_udf.MissingJarError, match=r"is missing: build it with the package: `pip"):
        parse_udf.choose_parser(ParserChoice.JAVA, missing)
    assert parse_udf.choose_parser(ParserChoice.SQL, missing) == (JvmParser.SQL, None)


def test_the_installed_package_holds_a_current_jar_and_the_job_uses_it() -> None:
    """scripts/setup.sh installs the project editable with a JDK present: the install built the jar."""
    jar = parser_jar.packaged_jar()
    assert jar.is_file() and parser_jar.is_current(jar)
    for choice in (ParserChoice.AUTO, ParserChoice.JAVA):
        assert parse_udf.choose_parser(choice) == (JvmParser.JAVA, jar)


@pytest.mark.slow
def test_a_wheel_of_the_project_ships_the_jar(tmp_path) -> None:
    """setup.py's build step for a non-editable build: the jar goes into the wheel, built there."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "node_modules", "out", "*.jar", "__pycache__", "build", "*.egg-info"))
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
               "-w", str(tmp_path / "dist"), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("emberwatch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        jar_bytes = archive.read(f"jobs/bushfire/jvm/{parser_jar.JAR_NAME}")
    assert "jobs/bushfire/jvm/ParseReading.java" in names
    (tmp_path / "shipped.jar").write_bytes(jar_bytes)
    shipped_from = parser_jar.jar_digest(tmp_path / "shipped.jar")
    assert shipped_from == parser_jar.sources_digest(source / "jobs" / "bushfire" / "jvm")


def test_the_rebuild_command_writes_the_packaged_jar(jvm_dir: Path, monkeypatch, capsys) -> None:
    target = jvm_dir / parser_jar.JAR_NAME
    monkeypatch.setattr(parser_jar, "JVM_DIR", jvm_dir)
    assert parser_jar.main() == 0
    assert capsys.readouterr().out.strip() == str(target) and parser_jar.is_current(target, jvm_dir)


def test_the_parser_flag_and_its_default() -> None:
    assert load_config([], env={}).runtime.parser is ParserChoice.AUTO
    assert load_config(["--parser", "sql"], env={}).runtime.parser is ParserChoice.SQL
    assert load_config([], env={"BUSHFIRE_PARSER": "java"}).runtime.parser is ParserChoice.JAVA


def test_imported_from_the_emr_package_zip_the_job_finds_the_jar_inside_it(tmp_path) -> None:
    """`flink run -pyfs package.zip` puts the zip ahead of site-packages on the client's PYTHONPATH, so
    `jobs` is imported from the zip; the jar inside it is copied out once (the JVM needs a file)."""
    from infra.package import build_package

    package = tmp_path / "emberwatch-job.zip"
    package.write_bytes(build_package(ROOT).data)
    script = (
        "import jobs; from jobs.bushfire import parse_udf; from jobs.bushfire.config import ParserChoice; "
        "print(jobs.__file__); print(parse_udf.choose_parser(ParserChoice.JAVA)[1])"
    )
    env = {**os.environ, "PYTHONPATH": str(package), parse_udf.ENV_CACHE_DIR: str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    imported_from, jar = done.stdout.split()
    assert imported_from.startswith(str(package))
    assert Path(jar).parent == tmp_path / "cache"
    assert Path(jar).read_bytes() == parser_jar.packaged_jar().read_bytes()
