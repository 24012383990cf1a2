#!/usr/bin/env bash
# The production topology on one machine (`./scripts/demo.sh --full`):
#   simulator -> kinesis-local (2 shards) -> job (Kinesis source, the pinned connector)
#             -> SNS on moto_server (an SQS queue subscribed) + a real OpenSearch 2.19 node
#             -> the heat map, built from the documents OpenSearch holds.
# The stand-ins come from `emberwatch-local up` on free ports and are stopped at the end. About four
# minutes on a fresh machine (Maven downloads ~115 MB once, OpenSearch starts in ~30 s).
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$EMBERWATCH_ROOT"

ensure_javac || log "the job will parse with Flink SQL's JSON functions (slower)"  # before the install: it builds the parser jar
ensure_venv test
ensure_kinesis_local
ensure_kinesis_connector
ensure_opensearch
OUT="${DEMO_OUT:-$EMBERWATCH_ROOT/demo-out}"
rm -rf "$OUT"
mkdir -p "$OUT"
export EMBERWATCH_LOCAL_DIR="$OUT/stack"
JOB_PID=""
cleanup() {
    [ -n "$JOB_PID" ] && kill "$JOB_PID" 2>/dev/null
    "$PY" -m emberwatch_local.cli down || true
}
trap cleanup EXIT

free_port() { "$PY" -c 'from tests.support.servers import free_port; print(free_port())'; }
log "starting kinesis-local, moto_server and OpenSearch (logs in $EMBERWATCH_LOCAL_DIR/logs)"
eval "$("$PY" -m emberwatch_local.cli up --kinesis --sns --opensearch --kinesis-port "$(free_port)" \
    --sns-port "$(free_port)" --opensearch-port "$(free_port)")"

STREAM=sensor-readings
TOPIC_ARN=$("$PY" - "$STREAM" <<'PYEOF'
import os, sys, boto3
kinesis = boto3.client("kinesis", endpoint_url=os.environ["EMBERWATCH_KINESIS_ENDPOINT"])
kinesis.create_stream(StreamName=sys.argv[1], ShardCount=2)
kinesis.get_waiter("stream_exists").wait(StreamName=sys.argv[1], WaiterConfig={"Delay": 0.2})
from emberwatch_local.inbox import subscribe
print(subscribe(os.environ["EMBERWATCH_SNS_ENDPOINT"]))
PYEOF
)

# The job reads the stream from its start; endpoints, region and the connector jar come from the
# exports above (BUSHFIRE_*), so only the choices of this run are flags.
log "bushfire job on the local mini-cluster, reading Kinesis stream $STREAM from TRIM_HORIZON"
"$PY" -m jobs.bushfire --source kinesis --kinesis-stream "$STREAM" --kinesis-initpos TRIM_HORIZON \
    --out-of-orderness 60s --idleness 5s --sns-topic-arn "$TOPIC_ARN" \
    --alerts-out "$OUT/alerts.jsonl" --dead-letters "$OUT/dead-letters.jsonl" \
    --max-runtime 15min >"$OUT/console.txt" 2>"$OUT/job.log" &
JOB_PID=$!
sleep 15  # the job's JVM and Kinesis consumer start; the stream keeps what comes meanwhile anyway

log "simulator -> Kinesis stream $STREAM (45 simulated minutes, 60x real time)"
"$PY" -m simulator --preset demo --minutes 45 --sink kinesis --stream "$STREAM" --rate x60 \
    --truth "$OUT/truth.json" --quiet
sleep 20  # the last readings are read within a second; the bulk writer flushes every few seconds
kill -TERM "$JOB_PID" 2>/dev/null || true
wait "$JOB_PID" || true
JOB_PID=""

# The heat map from what OpenSearch holds, the alerts compared with the simulator's truth, and the
# SNS messages that reached the subscribed queue.
"$PY" - "$OUT" <<'PYEOF'
import json, os, sys
from pathlib import Path
from opensearchpy import OpenSearch
from opensearchpy.helpers import scan
from heatmap import render_heatmap
out = Path(sys.argv[1])
client = OpenSearch(os.environ["EMBERWATCH_OPENSEARCH_URL"])
client.indices.refresh(index="sensor-readings-*")
readings = [hit["_source"] for hit in scan(client, index="sensor-readings-*", query={"query": {"match_all": {}}})]
alerts = [json.loads(line) for line in (out / "alerts.jsonl").open()] if (out / "alerts.jsonl").exists() else []
render_heatmap(readings, alerts, out / "heatmap.html")
truth = json.loads((out / "truth.json").read_text())
want = {(p["region"], tuple(p["path"])) for p in truth.get("paths", truth.get("alerted_paths", []))}
found = {(a["region"], tuple(a["path"])) for a in alerts}
print(f"\nOpenSearch holds {len(readings)} readings (heat map built from them)")
print(f"alerts: {len(alerts)}; simulator truth: {len(want)} paths, found {len(found & want)}, "
      f"missed {len(want - found)}, false {len(found - want)}")
from emberwatch_local.inbox import drain
print(f"SNS: {drain(os.environ['EMBERWATCH_SNS_ENDPOINT'])} alert messages arrived in the subscribed SQS queue")
PYEOF

cat <<EOF

Where to look:
  heat map (from OpenSearch)     $OUT/heatmap.html
  alerts (JSONL, one per path)   $OUT/alerts.jsonl
  dead letters (raw + reason)    $OUT/dead-letters.jsonl
  job log                        $OUT/job.log
  stand-ins' logs                $OUT/stack/logs/
EOF
