#!/usr/bin/env bash
# Start the Emberwatch job unless it already runs: a second copy would read the same stream and send
# every alert twice. Runs as an EMR step on the primary node (installed in /opt/emberwatch/bin by the
# bootstrap action), in front of `flink run`.
# Usage: start_job.sh YARN_APPLICATION_NAME flink run ...
# A job stopped just before (`emberwatch-deploy upgrade`) may keep its YARN application for a few
# seconds, so a running one is waited for up to EMBERWATCH_START_WAIT_S seconds (default 120).
set -euo pipefail

APP_NAME="${1:?usage: start_job.sh yarn-application-name flink run ...}"
shift
WAIT_S="${EMBERWATCH_START_WAIT_S:-120}"

running_app() {
    local apps
    if ! apps=$(yarn application -list -appStates NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING 2>&1); then
        echo "cannot list YARN applications, so not starting a possible second job: $apps" >&2
        exit 5
    fi
    awk -v name="$APP_NAME" '$2 == name { print $1 }' <<<"$apps" | head -n 1
}

deadline=$((SECONDS + WAIT_S))
app_id=$(running_app)
while [ -n "$app_id" ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 5
    app_id=$(running_app)
done
if [ -n "$app_id" ]; then
    echo "the job already runs as YARN application $app_id ($APP_NAME); not starting a second one." >&2
    echo "Stop it first (emberwatch-deploy savepoint), or replace it (emberwatch-deploy upgrade)." >&2
    exit 4
fi
exec "$@"
