#!/usr/bin/env bash
# The demo command. Interim version until the PyFlink job lands: simulates the original system's
# 11-sensor scenario and runs the bushfire chain through the pure-Python `cep` engine.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$EMBERWATCH_ROOT"
ensure_venv test
"$PY" - <<'PY'
from cep import Matcher, Pattern
from cep import conditions as C
from simulator import SimulationConfig, simulate

hot = C.field("temperature") >= 50.0
pattern = Pattern.begin("n1").where(hot)
for i in range(2, 6):
    prev = f"n{i - 1}"
    pattern = pattern.followed_by(f"n{i}").where(hot).where(
        lambda e, ctx, prev=prev: e["infectedBy"] == ctx.get_events_for_pattern(prev)[-1]["node"]
    )
pattern = pattern.within(600_000)

matcher = Matcher(pattern)
paths = []
for event in simulate(SimulationConfig.preset("blog-11")).events():
    for match in matcher.process(event, event["ts"]):
        paths.append(tuple(match[f"n{i}"][0]["node"] for i in range(1, 6)))
print(f"{len(paths)} matches of the original followed_by chain, {len(set(paths))} distinct path(s):")
for path in sorted(set(paths)):
    print("ALERT:", " -> ".join(path))
PY
