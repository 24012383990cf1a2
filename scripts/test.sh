#!/usr/bin/env bash
# The test command: sets up everything on a fresh machine, then lints and runs the whole suite.
# Extra arguments go to pytest, e.g. `./scripts/test.sh -m "not pyflink"` for the fast subset.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$EMBERWATCH_ROOT"
ensure_javac  # before the install: it builds the job's parser jar
ensure_venv test
ensure_kinesis_local
ensure_chromium
ensure_kinesis_connector
ensure_opensearch
log "ruff"
"$PY" -m ruff check .
templates=$( (find infra -path '*templates*' -name '*.yaml' 2>/dev/null || true) | sort)
if [ -n "$templates" ]; then
    log "cfn-lint"
    # shellcheck disable=SC2086
    "$VENV/bin/cfn-lint" $templates
fi
log "pytest"
# Two workers (pytest-xdist) by default: most of the suite's time is spent waiting (JVM start-ups,
# checkpoints, polling), so a second worker nearly halves it. Each file stays in one worker and the
# files using the OpenSearch node share one (tests/conftest.py). `-n 0` (or EMBERWATCH_TEST_WORKERS=0)
# runs in one process; a later `-n` among the arguments wins.
"$PY" -m pytest -n "${EMBERWATCH_TEST_WORKERS:-2}" --dist loadgroup "$@"
