"""A build step for the job's Java parser; the rest of the project's metadata is in pyproject.toml.

`build_parser_jar` runs with every build (a wheel, `pip install .`, `pip install -e .`): it compiles
jobs/bushfire/jvm/*.java against Flink's jars (build-system requires apache-flink-libraries) into
jobs/bushfire/jvm/emberwatch-parse-reading.jar, in the build folder for a wheel and in the source tree
for an editable install. Without a JDK the build goes on without the jar and says so: the job then
parses with Flink SQL (`--parser auto`) or refuses to start (`--parser java`), naming how to build it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import Command, setup
from setuptools.command.build import build

ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = Path("jobs") / "bushfire" / "jvm"


def _parser_jar_module():
    """jobs/bushfire/parser_jar.py, loaded on its own: the project is not importable while it builds."""
    path = ROOT / "jobs" / "bushfire" / "parser_jar.py"
    spec = importlib.util.spec_from_file_location("_emberwatch_parser_jar", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildParserJar(Command):
    """Compile the job's Java functions into their jar (package data of jobs.bushfire)."""

    description = "compile jobs/bushfire/jvm/*.java into emberwatch-parse-reading.jar"
    user_options: list = []

    def initialize_options(self) -> None:
        self.build_lib = None
        self.editable_mode = False

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def _target(self) -> Path:
        module = _parser_jar_module()
        folder = ROOT / PACKAGE_DIR if self.editable_mode else Path(self.build_lib) / PACKAGE_DIR
        return folder / module.JAR_NAME

    def run(self) -> None:
        module = _parser_jar_module()
        target = self._target()
        try:
            module.build_jar(target, jvm_dir=ROOT / PACKAGE_DIR)
        except module.JarBuildError as exc:
            self.warn(f"the job's parser jar was not built: {exc}")
            return
        self.announce(f"built {target}", level=2)

    def get_outputs(self) -> list[str]:
        target = self._target()
        return [str(target)] if target.is_file() else []

    def get_source_files(self) -> list[str]:
        return [str(path.relative_to(ROOT)) for path in sorted((ROOT / PACKAGE_DIR).glob("*.java"))]

    def get_output_mapping(self) -> dict[str, str]:
        return {}


class Build(build):
    """setuptools' build, then the parser jar (editable installs run the same sub-commands)."""

    sub_commands = [*build.sub_commands, ("build_parser_jar", None)]


setup(cmdclass={"build": Build, "build_parser_jar": BuildParserJar})
