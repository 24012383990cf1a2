"""The bushfire job with ``--rules``: the rules file watched while the job runs, every rule per region.

    ticks (1/s, JVM) ─▶ watch the rules file (Python, parallelism 1) ─┬─▶ rule-set updates (broadcast)
                                                                       └─▶ dead letters (refused files)
    rows keyed by region ─▶ check, dedupe, every active rule's fire chain, one alert per
                            (rule, region, path)  (one Python operator, `cep.flink.dynamic`)

The file is read at start (a bad file stops the job before it runs), then checked every second: a
changed file (replaced atomically by rename, or rewritten) is read, checked whole, and sent as one
``set`` update; a rule whose document did not change keeps running with its partial matches. A file
that cannot be used is logged, becomes a dead letter (its raw text), and the rules before it keep
running. The rule set is broadcast state: it survives a restart from a checkpoint.

The JVM pre-filter (``temperature >= floor``) is fixed when the job is built: the floor is
``--rules-min-threshold`` or, by default, the lowest threshold of the rules at start. A later rule
below the floor would miss readings the JVM already dropped, so it is refused (a dead letter saying
to restart with a lower ``--rules-min-threshold``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import partial
from typing import Any, Optional

from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import StreamTableEnvironment

from cep import conditions as C
from cep.flink.dynamic import PATTERNS_STATE, UPDATE_ERRORS, DynamicCepFunction, DynamicMatchContext
from cep.flink.keyed_memory import MirroredValueState
from jobs.bushfire.alerts import build_alert
from jobs.bushfire.functions import ARRIVED, DEAD_LETTERS, CheckAndDetect, _forget_older_than, _metrics
from jobs.bushfire.parsing import DeadLetter, Reason, now_ms
from jobs.bushfire.rules import Rule, RulesError, parse_rules, rules_update

log = logging.getLogger(__name__)

#: Rule updates are stamped far in the future (year 9000): their watermark never holds readings back.
UPDATE_TS = 221_845_392_000_000
STAGE = "rules"


def rule_alert_id(rule_id: str, region: str, path: list) -> str:
    """Deterministic id of the alert for (rule, region, path): two rules on one path are two alerts."""
    text = json.dumps([rule_id, region, list(path)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class AlertOncePerRulePath:
    """Match function of the dynamic CEP step: one alert per (rule, region, path), with rule id and
    severity (the rule's, from the update's meta)."""

    def __init__(self, ttl_ms: int) -> None:
        self.ttl_ms = ttl_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        alerted = runtime_context.get_state(
            ValueStateDescriptor("alerted-rule-paths", Types.PICKLED_BYTE_ARRAY())
        )
        self.alerted = MirroredValueState(alerted)
        metrics = _metrics(runtime_context)
        self.alerts = metrics.counter("alerts")
        self.repeats = metrics.counter("repeatedMatches")

    def __call__(self, match: dict, ctx: DynamicMatchContext) -> list:
        stages = sorted(match, key=lambda name: int(name[1:]))
        readings = [match[name][-1] for name in stages]
        path = tuple(r["node"] for r in readings)
        remembered = (ctx.pattern_id, path)
        alerted = self.alerted.get(ctx.key) or {}
        if remembered in alerted:
            self.repeats.inc()
            return []
        alert = build_alert(readings, now_ms())
        alert["alert_id"] = rule_alert_id(ctx.pattern_id, alert["region"], alert["path"])
        alert["rule_id"] = ctx.pattern_id
        alert["severity"] = (ctx.meta or {}).get("severity", "warning")
        arrivals = [r[ARRIVED] for r in readings if ARRIVED in r]
        if arrivals:
            alert["delay_ms"] = alert["detected_at"] - max(arrivals)
        alerted[remembered] = alert["last_ts"]
        _forget_older_than(alerted, alert["last_ts"] - self.ttl_ms)
        self.alerted.put(ctx.key, alerted)
        self.alerts.inc()
        return [alert]


class WatchRulesFile(ProcessFunction):
    """On each tick, look at the rules file; when it changed, send its rules as one ``set`` update.

    A file that cannot be used is logged and becomes a dead letter (its raw text); nothing is sent, so
    the running rules stay. The first tick always sends (a ``set`` of unchanged rules changes nothing).
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def open(self, runtime_context: RuntimeContext) -> None:
        self.seen: Optional[tuple] = None
        metrics = _metrics(runtime_context)
        self.reloads = metrics.counter("rulesFileReloads")
        self.refused = metrics.counter("rulesFileRefused")

    def process_element(self, tick: Any, ctx: ProcessFunction.Context):
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            if self.seen != ("missing",):
                log.warning("rules file %s: cannot read it (%s); the running rules stay", self.path, exc)
                self.seen = ("missing",)
            return
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if version == self.seen:
            return
        self.seen = version
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            rules = parse_rules(text, f"rules file {self.path}")
        except (OSError, RulesError) as exc:
            self.refused.inc()
            log.error("refused the rules file as a whole (%s); the running rules stay", exc)
            yield DEAD_LETTERS, _dead_letter(text if "text" in locals() else "", str(exc))
            return
        self.reloads.inc()
        log.info("rules file %s: sending rules %s", self.path, sorted(rules))
        yield json.dumps(rules_update(rules))


def _dead_letter(raw: str, error: str) -> str:
    return DeadLetter(stage=STAGE, reason=Reason.RULES, raw=raw, error=error, seen_at=now_ms()).to_json()


class RefusedUpdateToDeadLetter(ProcessFunction):
    """An update the CEP step refused (e.g. a threshold below the JVM floor) -> a dead letter, logged."""

    def process_element(self, text: str, ctx: ProcessFunction.Context):
        refused = json.loads(text)
        log.error("the CEP step refused a rules update: %s; the running rules stay", refused["error"])
        yield _dead_letter(refused["update"], refused["error"])


def rule_updates(
    env: Any, t_env: StreamTableEnvironment, path: str, watch: bool
) -> tuple[DataStream, Optional[DataStream]]:
    """The rule-set updates (JSON text) and the dead letters of refused files.

    `watch`: tick every second for as long as the job runs; otherwise (a bounded input) no updates,
    so the job still ends when its input does.
    """
    if not watch:
        return env.from_collection([], type_info=Types.STRING()), None
    t_env.execute_sql(
        f"""CREATE TEMPORARY TABLE rules_ticks (
              n INT,
              rt AS TO_TIMESTAMP_LTZ({UPDATE_TS}, 3),
              WATERMARK FOR rt AS rt
            ) WITH ('connector' = 'datagen', 'rows-per-second' = '1')"""
    )
    ticks = t_env.to_data_stream(t_env.from_path("rules_ticks"))
    watcher = WatchRulesFile(path)
    updates = ticks.process(watcher, Types.STRING()).name("watch-rules").uid("watch-rules").set_parallelism(1)
    return updates, updates.get_side_output(DEAD_LETTERS)


def detect_rules(
    step_id: str,
    rows: KeyedStream,
    updates: DataStream,
    rules: dict[str, Rule],
    floor_c: float,
    event_dedupe_ttl_ms: int,
    alert_dedupe_ttl_ms: int,
    late_tag: OutputTag,
    parallelism: int,
) -> tuple[DataStream, DataStream]:
    """Run every rule over every region; returns (alerts, refused updates as dead letters)."""
    initial = rules_update(rules)
    function = DynamicCepFunction(
        AlertOncePerRulePath(alert_dedupe_ttl_ms),
        initial=initial["patterns"],
        initial_meta=initial["meta"],
        upstream_filter=C.field("temperature") >= floor_c,
        late_tag=late_tag,
        make_inner=partial(CheckAndDetect, step_id, event_dedupe_ttl_ms),
    )
    connected = rows.connect(updates.broadcast(PATTERNS_STATE))
    alerts = connected.process(function).name(step_id).uid(step_id).set_parallelism(parallelism)
    refused = alerts.get_side_output(UPDATE_ERRORS).process(RefusedUpdateToDeadLetter(), Types.STRING())
    return alerts, refused
