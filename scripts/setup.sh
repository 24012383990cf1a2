#!/usr/bin/env bash
# Idempotent set-up shared by scripts/test.sh and scripts/demo.sh: source it, then call what you need.
# EMBERWATCH_VENV overrides where the virtualenv lives (default: .venv in the repository).

EMBERWATCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EMBERWATCH_VENV:-$EMBERWATCH_ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '[setup] %s\n' "$*" >&2; }

# ensure_venv EXTRAS: a virtualenv with the project installed (editable) and the given extras.
ensure_venv() {
    local extras="${1:-test}"
    local stamp="$VENV/.emberwatch-$extras"
    if [ ! -x "$PY" ]; then
        log "creating virtualenv in $VENV"
        "${PYTHON:-python3}" -m venv "$VENV"
        "$PY" -m pip install -q --upgrade pip >/dev/null
    fi
    # Reinstall when the metadata or the Java parser's sources changed: the build compiles them into
    # jobs/bushfire/jvm/emberwatch-parse-reading.jar (setup.py; it needs ensure_javac first).
    if [ ! -f "$stamp" ] || [ "$EMBERWATCH_ROOT/pyproject.toml" -nt "$stamp" ] \
        || [ "$EMBERWATCH_ROOT/setup.py" -nt "$stamp" ] \
        || [ -n "$(find "$EMBERWATCH_ROOT/jobs/bushfire/jvm" -name '*.java' -newer "$stamp" 2>/dev/null)" ]; then
        log "installing emberwatch[$extras] (first run: about a minute)"
        "$PY" -m pip install -q -e "$EMBERWATCH_ROOT[$extras]" >"$VENV/pip-install.log" 2>&1 \
            || { cat "$VENV/pip-install.log" >&2; return 1; }
        touch "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
    # PyFlink starts its Python workers with `python` from PATH unless told otherwise.
    export PYFLINK_PYTHON="$PY"
}

# ensure_kinesis_local: the npm Kinesis emulator used by the simulator's Kinesis sink tests.
ensure_kinesis_local() {
    if [ ! -f "$EMBERWATCH_ROOT/tools/node_modules/kinesis-local/package.json" ]; then
        log "installing kinesis-local (npm)"
        (cd "$EMBERWATCH_ROOT/tools" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1 \
            || npm install --silent --no-audit --no-fund >/dev/null)
    fi
    export KINESIS_LOCAL_DIR="$EMBERWATCH_ROOT/tools/node_modules/kinesis-local"
}

# ensure_debian_package COMMAND PACKAGE WHY: install PACKAGE with apt unless COMMAND is on PATH.
ensure_debian_package() {
    local command=$1 package=$2 why=$3
    if command -v "$command" >/dev/null 2>&1; then return 0; fi
    if [ "$(id -u)" != "0" ]; then
        log "$command is missing and we are not root: install Debian's '$package' package ($why)"
        return 1
    fi
    log "installing $package (apt) for $why"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "$package" >/dev/null
}

# ensure_javac: a JDK, so installing the package compiles the job's parser UDF (jobs/bushfire/jvm).
ensure_javac() { ensure_debian_package javac openjdk-17-jdk-headless "the job's parser UDF"; }

# ensure_chromium: Debian's headless Chromium, for the heat-map page test.
ensure_chromium() { ensure_debian_package chromium chromium "the heat-map page test"; }

# ensure_kinesis_connector: Flink's Kinesis connector jar (pinned version and SHA-256, see
# jobs/bushfire/connector.py), fetched with Maven into .cache/m2; the job finds it there by itself.
ensure_kinesis_connector() {
    ensure_debian_package mvn maven "Maven Central downloads" || return 1
    KINESIS_CONNECTOR_JAR=$("$PY" -m emberwatch_local.artifacts kinesis-connector) || return 1
    export KINESIS_CONNECTOR_JAR
}

# ensure_opensearch: the OpenSearch 2.19 distribution (pinned SHA-256) for emberwatch-local and the
# tests; it runs on the machine's Java 17.
ensure_opensearch() {
    ensure_debian_package mvn maven "Maven Central downloads" || return 1
    ensure_debian_package java openjdk-17-jdk-headless "the OpenSearch server" || return 1
    OPENSEARCH_DIST_ZIP=$("$PY" -m emberwatch_local.artifacts opensearch) || return 1
    export OPENSEARCH_DIST_ZIP
}
