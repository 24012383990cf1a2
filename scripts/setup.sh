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
    if [ ! -f "$stamp" ] || [ "$EMBERWATCH_ROOT/pyproject.toml" -nt "$stamp" ]; then
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

# ensure_javac: a JDK, so the job can compile its parser UDF (jobs/bushfire/jvm) once.
ensure_javac() {
    if command -v javac >/dev/null 2>&1; then return 0; fi
    if [ "$(id -u)" != "0" ]; then
        log "javac is missing and we are not root: install a JDK (Debian: openjdk-17-jdk-headless)"
        return 1
    fi
    log "installing a JDK for javac (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless >/dev/null
}

# ensure_chromium: Debian's headless Chromium, for the heat-map page test.
ensure_chromium() {
    if command -v chromium >/dev/null 2>&1; then return 0; fi
    if [ "$(id -u)" != "0" ]; then
        log "chromium is missing and we are not root: install Debian's 'chromium' package"
        return 1
    fi
    log "installing chromium (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
