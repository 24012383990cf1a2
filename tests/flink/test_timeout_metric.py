"""The ``timeouts`` metric of `CepFunction` without a timeout side output: the matchers only count
their timeouts (`Matcher(report_timeouts=False)`, as Flink's NFA without a timeout handler), and
the metric must read what a function that reports them to a side output counts."""

from __future__ import annotations

from cep.flink.operator import CepFunction
from tests.cep.test_bounded import multiplying
from tests.flink.stand_ins import Ctx, Runtime, Timers

TIMEOUT_TAG = "timeouts"  # a stand-in: the function only yields it with each timeout


def _run(**options) -> tuple[CepFunction, Runtime, list]:
    function = CepFunction(multiplying(), lambda match, ctx: [("match", match)], **options)
    runtime = Runtime()
    function.open(runtime)
    ctx = Ctx(Timers())
    out = []
    for i, kind in enumerate("abbcbxabb"):
        ctx.ts = i + 1
        out.extend(function.process_element({"k": kind}, ctx))
    for watermark in (5, 10, 5_000):  # the last one is past the window: the rest times out
        ctx.timers.watermark = watermark
        out.extend(function.on_timer(watermark, ctx))
    return function, runtime, out


def test_without_a_timeout_side_output_timeouts_are_counted_not_built() -> None:
    counting, counted, out = _run()
    reporting, reported, reported_out = _run(timeout_tag=TIMEOUT_TAG, timeout_fn=lambda partial, ts: ts)
    assert counting._count_timeouts and not reporting._count_timeouts
    timeouts = [item for item in reported_out if item[0] == TIMEOUT_TAG]
    assert len(timeouts) > 0
    assert counted.counters["timeouts"].count == reported.counters["timeouts"].count == len(timeouts)
    assert out == [item for item in reported_out if item[0] != TIMEOUT_TAG]  # the same matches
    assert counted.counters["matches"].count == reported.counters["matches"].count > 0
