#!/usr/bin/env bash
# The README's main command: a sensor network on fire, watched by the bushfire job, end to end.
#
#   ./scripts/demo.sh          simulate -> rolling JSONL files -> job on the local mini-cluster -> alerts
#   ./scripts/demo.sh --sns    also publish each alert to SNS on a local moto_server (read back via SQS)
#   ./scripts/demo.sh --rules  detection rules as data, changed live: the job starts with the five-node
#                              `warning` rule; halfway through, the rules file is replaced (by rename)
#                              with `warning` + a three-node `watch` rule, which starts alerting at once
#   ./scripts/demo.sh --full   the production topology: Kinesis in, SNS + a real OpenSearch out
#                              (scripts/demo-full.sh: kinesis-local, moto, OpenSearch 2.19; ~4 min)
#
# Sets itself up on a fresh machine (virtualenv with the project), finishes by itself in about two
# minutes, and prints where to look. Outputs go to demo-out/ (override with DEMO_OUT=/path).
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$EMBERWATCH_ROOT"

SNS=0
RULES=0
for arg in "$@"; do
    case "$arg" in
        --sns) SNS=1 ;;
        --rules) RULES=1 ;;
        --full) exec "$(dirname "$0")/demo-full.sh" ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

ensure_javac || log "the job will parse with Flink SQL's JSON functions (slower)"  # before the install: it builds the parser jar
ensure_venv test
OUT="${DEMO_OUT:-$EMBERWATCH_ROOT/demo-out}"
rm -rf "$OUT"
mkdir -p "$OUT/readings"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# Optional: SNS on a local moto_server, with an SQS queue subscribed so the demo can show the messages.
SNS_FLAGS=()
if [ "$SNS" = 1 ]; then
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
    PORT=$("$PY" -c 'from tests.support.servers import free_port; print(free_port())')
    "$PY" -m moto.server -H 127.0.0.1 -p "$PORT" >"$OUT/moto.log" 2>&1 &
    PIDS+=($!)
    ENDPOINT="http://127.0.0.1:$PORT"
    "$PY" -c "from tests.support.servers import wait_for_port; wait_for_port($PORT)"
    TOPIC_ARN=$("$PY" -m emberwatch_local.inbox subscribe "$ENDPOINT")
    SNS_FLAGS=(--sns-topic-arn "$TOPIC_ARN" --sns-endpoint "$ENDPOINT")
    log "SNS topic $TOPIC_ARN on moto_server $ENDPOINT (queue bushfire-alerts-inbox subscribed)"
fi

# Optional: rules as data (docs/rules.md). The file is watched while the job runs.
RULES_FLAGS=()
if [ "$RULES" = 1 ]; then
    cat >"$OUT/rules.json" <<'EOF_RULES'
[{"id": "warning", "regions": ["*"], "threshold": 50, "chain_length": 5, "window": "10m", "severity": "warning"}]
EOF_RULES
    RULES_FLAGS=(--rules "$OUT/rules.json")
    log "rules: $OUT/rules.json (warning: 5 nodes in 10 min); a watch rule is added halfway"
fi

# 1. The job watches the directory (event time, 60 s out-of-orderness for the simulator's delays and
#    clock skew); alerts appear on the console as they are detected. It stops on SIGTERM (below) or
#    after 15 minutes at the latest (a safety limit).
log "bushfire job on the local mini-cluster, watching $OUT/readings"
: >"$OUT/console.txt"
"$PY" -m jobs.bushfire --source files --input "$OUT/readings" --monitor-interval 1s \
    --out-of-orderness 60s --alerts-out "$OUT/alerts.jsonl" --dead-letters "$OUT/dead-letters.jsonl" \
    --max-runtime 15min "${SNS_FLAGS[@]}" "${RULES_FLAGS[@]}" >"$OUT/console.txt" 2>"$OUT/job.log" &
JOB_PID=$!
PIDS+=($JOB_PID)
tail -n +1 -f --pid "$JOB_PID" "$OUT/console.txt" &
PIDS+=($!)
# PyFlink starts the Python side when the first record arrives. A probe line (not a reading, so it
# becomes a dead letter on purpose) gets it going; the simulator starts once the probe came out, so
# the job reads each rolling file as it appears. (Files that pile up are read newest first by Flink's
# file source, which would make the older ones late.)
echo '{"probe": "demo start: not a reading, dead-lettered on purpose"}' >"$OUT/readings/.probe"
mv "$OUT/readings/.probe" "$OUT/readings/probe.jsonl"
for _ in $(seq 600); do
    [ -s "$OUT/dead-letters.jsonl" ] && break
    kill -0 "$JOB_PID" 2>/dev/null || { cat "$OUT/job.log" >&2; exit 1; }
    sleep 1
done

# 2. The simulator: 4 regions x 25 sensors, branching fires and every fault, 45 minutes of readings
#    written 60x faster than real time as rolling files (each one appears atomically, about every 3 s,
#    so the job reads them in order).
log "simulator -> $OUT/readings (rolling files, about 45 s)"
if [ "$RULES" = 1 ]; then
    # Halfway through, replace the rules file atomically: the job picks the change up within seconds.
    (
        sleep 22
        cat >"$OUT/.rules.json" <<'EOF_RULES'
[{"id": "warning", "regions": ["*"], "threshold": 50, "chain_length": 5, "window": "10m", "severity": "warning"},
 {"id": "watch", "regions": ["*"], "threshold": 50, "chain_length": 3, "window": "5m", "severity": "watch"}]
EOF_RULES
        mv "$OUT/.rules.json" "$OUT/rules.json"
        echo "[demo] rules file replaced: warning + watch (3 nodes in 5 min)" >&2
    ) &
    PIDS+=($!)
fi
"$PY" -m simulator --preset demo --minutes 45 --sink dir --out "$OUT/readings" --records-per-file 300 \
    --rate x60 --truth "$OUT/truth.json" --quiet
sleep 8  # the last file is picked up within a second; give the job a moment to process it
kill -TERM "$JOB_PID" 2>/dev/null || true
wait "$JOB_PID" || true
sleep 1

# 3. The heat map of every reading and the alerted paths (the heat-map tool; OpenSearch is not
#    configured here), then the alerts against the simulator's truth.
touch "$OUT/alerts.jsonl"
"$PY" -m heatmap --events "$OUT"/readings/*.jsonl --alerts "$OUT/alerts.jsonl" --out "$OUT/heatmap.html" \
    2>>"$OUT/heatmap.log"
"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
alerts = [json.loads(line) for line in (out / "alerts.jsonl").open()]
truth = json.loads((out / "truth.json").read_text())
paths = truth.get("paths", truth.get("alerted_paths", []))
by_rule = {}
for a in alerts:
    by_rule[a.get("rule_id", "-")] = by_rule.get(a.get("rule_id", "-"), 0) + 1
if set(by_rule) != {"-"}:
    print(f"\nalerts per rule: {by_rule} (the truth below is for five-node paths: the warning rule)")
found = {(a["region"], tuple(a["path"])) for a in alerts if a.get("rule_id", "warning") == "warning"}
want = {(p["region"], tuple(p["path"])) for p in paths} if paths and isinstance(paths[0], dict) else set()
dead = (out / "dead-letters.jsonl").read_text().splitlines() if (out / "dead-letters.jsonl").exists() else []
reasons = {}
for line in dead:
    reason = json.loads(line)["reason"]
    reasons[reason] = reasons.get(reason, 0) + 1
print(f"\nalerts: {len(alerts)} (one per rule and distinct path); simulator truth: {len(want)} paths, "
      f"found {len(found & want)}, missed {len(want - found)}, false {len(found - want)}")
print(f"dead letters: {len(dead)} {reasons}")
EOF

if [ "$SNS" = 1 ]; then
    echo "SNS: $("$PY" -m emberwatch_local.inbox drain "$ENDPOINT") alert messages arrived in the subscribed SQS queue"
fi

cat <<EOF

Where to look:
  alerts (JSONL, one per path)   $OUT/alerts.jsonl
  console output of the job      $OUT/console.txt
  dead letters (raw + reason)    $OUT/dead-letters.jsonl
  heat map (open in a browser)   $OUT/heatmap.html
  readings the simulator wrote   $OUT/readings/
  simulator ground truth         $OUT/truth.json
  job log                        $OUT/job.log
EOF
