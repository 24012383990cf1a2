"""The ``timeouts`` metric of `CepFunction` without a timeout side output: the matchers only count
their timeouts (`Matcher(report_timeouts=False)`, as Flink's NFA without a timeout handler), and
the metric must read what a function that reports them to a side output counts."""

from __future__ import annotations

import pytest

from cep.flink.operator import CepFunction
from tests.cep.test_bounded import multiplying
from tests.flink.stand_ins import Ctx, Runtime, Timers, feed_with_lagging_watermark
from tests.flink.test_pass_every import arrivals, chain

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


def _run_shuffled(seed: int, **options) -> tuple[CepFunction, Runtime, list]:
    """`pass_every`'s chain over shuffled arrivals, the watermark 30 behind the latest timestamp."""
    function = CepFunction(chain(), lambda match, ctx: [("match", match)], **options)
    runtime = Runtime()
    function.open(runtime)
    out, _fired = feed_with_lagging_watermark(function, arrivals(seed), lag=30, end=10_000)
    return function, runtime, out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_early_results_the_counted_timeouts_are_the_reported_ones(seed: int) -> None:
    """The matcher kept ahead counts its timeouts too, and replaces the key's matcher at passes: the
    metric must still equal the timeouts a reporting function emits, early results or not."""
    counting, counted, out = _run_shuffled(seed, early_results=True)
    reporting, reported, reported_out = _run_shuffled(
        seed, early_results=True, timeout_tag=TIMEOUT_TAG, timeout_fn=lambda partial, ts: ts
    )
    _, plain, plain_out = _run_shuffled(seed, timeout_tag=TIMEOUT_TAG, timeout_fn=lambda partial, ts: ts)
    assert counting._count_timeouts and not reporting._count_timeouts
    timeouts = [item for item in reported_out if item[0] == TIMEOUT_TAG]
    assert len(timeouts) == len([item for item in plain_out if item[0] == TIMEOUT_TAG]) > 0
    assert counted.counters["timeouts"].count == reported.counters["timeouts"].count == len(timeouts)
    assert out == [item for item in reported_out if item[0] != TIMEOUT_TAG]  # the same matches
    assert counted.counters["earlyMatches"].count > 0 and counted.counters["earlyRebuilds"].count > 0
