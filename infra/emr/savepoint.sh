#!/usr/bin/env bash
# Stop the running Emberwatch job with a savepoint. Runs as an EMR step on the primary node
# (installed in /opt/emberwatch/bin by the bootstrap action).
# Usage: savepoint.sh s3://BUCKET/savepoints [YARN_APPLICATION_NAME]
set -euo pipefail

SAVEPOINT_DIR="${1:?usage: savepoint.sh s3://bucket/savepoints [yarn-application-name]}"
APP_NAME="${2:-emberwatch-bushfire}"

app_id=$(yarn application -list -appStates RUNNING 2>/dev/null \
    | awk -v name="$APP_NAME" '$2 == name { print $1 }' | head -n 1)
if [ -z "$app_id" ]; then
    echo "no RUNNING YARN application named $APP_NAME: is the job running? (emberwatch-deploy status)" >&2
    exit 2
fi
job_id=$(flink list --target yarn-per-job -Dyarn.application.id="$app_id" 2>/dev/null \
    | grep -oE '\b[0-9a-f]{32}\b' | head -n 1)
if [ -z "$job_id" ]; then
    echo "YARN application $app_id runs no Flink job" >&2
    exit 3
fi
echo "stopping job $job_id of $app_id with a savepoint under $SAVEPOINT_DIR"
flink stop --target yarn-per-job -Dyarn.application.id="$app_id" --savepointPath "$SAVEPOINT_DIR" "$job_id"
