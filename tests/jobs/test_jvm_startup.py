"""The class-data sharing archive for the local gateway JVM: recorded once, checked, then mapped.

Real archives, recorded by the real JDK for a small class path, stand in for the gateway's (~130 MB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from jobs.bushfire import jvm_startup

JAVA = shutil.which("java") or "java"  # PyFlink needs it anyway


@pytest.fixture
def classpath(tmp_path) -> str:
    folder = tmp_path / "classes"
    folder.mkdir()
    return str(folder)


def _record(classpath: str, recording) -> None:
    """What the gateway JVM does at exit when asked to record."""
    command = [JAVA, "-Xlog:cds=off", f"-XX:ArchiveClassesAtExit={recording}", "-cp", classpath, "-version"]
    subprocess.run(command, capture_output=True, check=True)


def _age(path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_the_archive_is_named_by_the_jdk_and_the_class_path(tmp_path, classpath) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "a.jar").write_bytes(b"x")
    first = jvm_startup.archive_path(JAVA, f"{lib}/*.jar", tmp_path)
    assert first.parent == tmp_path and first.name.endswith(".jsa")
    (lib / "b.jar").write_bytes(b"y")  # another jar on the class path: another archive
    assert jvm_startup.archive_path(JAVA, f"{lib}/*.jar", tmp_path) != first


def test_without_an_archive_the_jvm_is_asked_to_record_one(tmp_path, classpath) -> None:
    archive = tmp_path / "gw.jsa"
    args = jvm_startup.jvm_args(JAVA, classpath, archive)
    assert args[-1] == f"-XX:ArchiveClassesAtExit={archive}.{os.getpid()}.recording"


def test_a_recording_in_progress_is_left_alone(tmp_path, classpath) -> None:
    archive = tmp_path / "gw.jsa"
    _record(classpath, f"{archive}.1.recording")  # just written: perhaps still being written
    assert jvm_startup.jvm_args(JAVA, classpath, archive) == []
    assert not archive.exists()


def test_a_finished_recording_is_checked_adopted_and_mapped(tmp_path, classpath) -> None:
    archive = tmp_path / "gw.jsa"
    recording = tmp_path / "gw.jsa.1.recording"
    _record(classpath, recording)
    _age(recording, jvm_startup.SETTLED_S + 1)
    assert jvm_startup.jvm_args(JAVA, classpath, archive)[-1] == f"-XX:SharedArchiveFile={archive}"
    assert archive.is_file() and not recording.exists()
    mapped = [JAVA, f"-XX:SharedArchiveFile={archive}", "-Xshare:on", "-cp", classpath, "-version"]
    assert subprocess.run(mapped, capture_output=True, check=False).returncode == 0


def test_a_truncated_recording_is_dropped_and_recorded_again(tmp_path, classpath) -> None:
    archive = tmp_path / "gw.jsa"
    recording = tmp_path / "gw.jsa.1.recording"
    _record(classpath, recording)
    recording.chmod(0o644)
    recording.write_bytes(recording.read_bytes()[:5000])  # a JVM killed while writing it
    _age(recording, jvm_startup.SETTLED_S + 1)
    args = jvm_startup.jvm_args(JAVA, classpath, archive)
    assert not recording.exists() and not archive.exists()
    assert args[-1].startswith("-XX:ArchiveClassesAtExit=")


def test_it_can_be_switched_off(monkeypatch) -> None:
    monkeypatch.setenv(jvm_startup.ENV_SWITCH, "0")
    monkeypatch.setenv("JVM_ARGS", "-Xmx1g")
    jvm_startup.use_class_data_sharing()
    assert os.environ["JVM_ARGS"] == "-Xmx1g"


def test_a_local_run_records_into_the_cache_and_keeps_other_jvm_args(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EMBERWATCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("JVM_ARGS", "-Xmx1g")
    monkeypatch.delenv(jvm_startup.ENV_SWITCH, raising=False)
    monkeypatch.delenv("PYFLINK_GATEWAY_PORT", raising=False)
    jvm_startup.use_class_data_sharing()
    first, *rest = os.environ["JVM_ARGS"].split()
    assert first == "-Xmx1g"
    assert rest[-1].startswith(f"-XX:ArchiveClassesAtExit={tmp_path}/pyflink-gateway-")


def test_under_flink_run_nothing_changes(monkeypatch) -> None:
    monkeypatch.setenv("PYFLINK_GATEWAY_PORT", "12345")  # the gateway flink run started
    monkeypatch.delenv("JVM_ARGS", raising=False)
    jvm_startup.use_class_data_sharing()
    assert "JVM_ARGS" not in os.environ


def test_the_gateway_jvm_compiles_with_c1_and_the_users_jvm_args_come_after(monkeypatch) -> None:
    monkeypatch.delenv("PYFLINK_GATEWAY_PORT", raising=False)
    monkeypatch.delenv(jvm_startup.ENV_QUICK_JIT, raising=False)
    monkeypatch.setenv("JVM_ARGS", "-XX:TieredStopAtLevel=4")
    jvm_startup.use_quick_jit()
    assert os.environ["JVM_ARGS"] == "-XX:TieredStopAtLevel=1 -XX:TieredStopAtLevel=4"  # the last wins
    monkeypatch.setenv(jvm_startup.ENV_QUICK_JIT, "0")
    monkeypatch.setenv("JVM_ARGS", "-Xmx1g")
    jvm_startup.use_quick_jit()
    assert os.environ["JVM_ARGS"] == "-Xmx1g"


def test_the_c1_only_jvm_still_maps_a_class_data_archive(tmp_path, classpath) -> None:
    archive = tmp_path / "gw.jsa"
    _record(classpath, archive)
    mapped = [f"-XX:SharedArchiveFile={archive}", "-Xshare:on", jvm_startup.QUICK_JIT]
    command = [JAVA, *mapped, "-cp", classpath, "-version"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "sharing" in done.stderr


def test_once_the_archive_is_in_place_finished_leftover_recordings_go_and_old_unused_archives_too(
    tmp_path, classpath
) -> None:
    """JVMs that started together each recorded; one recording was adopted. The others, and the
    archives of class paths not used for a week, only take disk space (~150 MB each)."""
    archive = tmp_path / f"{jvm_startup.ARCHIVE_PREFIX}current.jsa"
    _record(classpath, archive)
    leftover = tmp_path / f"{archive.name}.2.recording"
    _record(classpath, leftover)
    _age(leftover, jvm_startup.SETTLED_S + 1)
    in_progress = tmp_path / f"{archive.name}.3.recording"
    in_progress.write_bytes(b"being written")
    week = jvm_startup.UNUSED_DAYS * 86_400
    stale = tmp_path / f"{jvm_startup.ARCHIVE_PREFIX}old-pyflink.jsa"
    stale_recording = tmp_path / f"{jvm_startup.ARCHIVE_PREFIX}old-pyflink.jsa.9.recording"
    recent = tmp_path / f"{jvm_startup.ARCHIVE_PREFIX}other-venv.jsa"
    unrelated = tmp_path / "emberwatch-parse-reading-0123.jar"
    for path in (stale, stale_recording, recent, unrelated):
        path.write_bytes(b"x")
    for path in (stale, stale_recording, unrelated):
        _age(path, week + 60)
    _age(recent, week - 3_600)
    _age(archive, week + 60)  # old, but in use now: kept, and its time stamp refreshed

    assert jvm_startup.jvm_args(JAVA, classpath, archive)[-1] == f"-XX:SharedArchiveFile={archive}"

    assert archive.is_file() and time.time() - archive.stat().st_mtime < 60
    assert not leftover.exists() and in_progress.exists()
    assert not stale.exists() and not stale_recording.exists()
    assert recent.exists() and unrelated.exists()
