"""Percentiles and rates of the benchmark report: nearest rank, steady state only."""

from __future__ import annotations

import pytest

from bench.stats import (
    percentile,
    rate_from_progress,
    steady_rate,
    summarize_latencies,
    time_at_progress,
)


def test_the_nearest_rank_percentile_is_a_value_that_was_measured():
    values = [float(n) for n in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 99.9) == 100.0


def test_the_percentile_does_not_depend_on_the_order_of_the_values():
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 60) == 3.0


def test_one_slow_request_in_a_hundred_is_the_p99_but_not_the_p98():
    values = [1.0] * 99 + [500.0]
    assert percentile(values, 99) == 1.0
    assert percentile(values, 99.5) == 500.0
    values = [1.0] * 98 + [500.0] * 2
    assert percentile(values, 99) == 500.0
    assert percentile(values, 98) == 1.0


@pytest.mark.parametrize("pct", [0.0, -1.0, 100.5])
def test_a_percentile_outside_0_to_100_is_refused(pct: float):
    with pytest.raises(ValueError, match="percentile must be"):
        percentile([1.0], pct)


def test_the_percentile_of_nothing_is_refused():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_a_latency_summary_scales_seconds_to_milliseconds():
    summary = summarize_latencies([0.001] * 98 + [0.010, 0.020], scale=1000.0)
    assert summary["count"] == 100
    assert summary["p50"] == 1.0
    assert summary["p99"] == 10.0
    assert summary["max"] == 20.0
    assert summary["mean"] == pytest.approx(1.28)
    assert set(summary) == {"count", "mean", "p50", "p90", "p99", "p999", "max"}


def test_a_summary_of_no_latencies_only_counts_them():
    assert summarize_latencies([]) == {"count": 0}


def test_the_steady_rate_ignores_a_slow_start_and_a_trailing_straggler():
    start_up = [0.0, 5.0]  # the worker took 5 s to boot after the first completion
    steady = [5.0 + n * 0.01 for n in range(1, 97)]  # 100 per second
    straggler = [60.0, 61.0]
    rate, span = steady_rate(start_up + steady + straggler)
    assert rate == pytest.approx(100.0, rel=0.02)
    assert span == pytest.approx(0.79, abs=0.02)


def test_a_rate_needs_enough_completions_spread_over_time():
    with pytest.raises(ValueError, match="too few"):
        steady_rate([1.0, 2.0])
    with pytest.raises(ValueError, match="same instant"):
        steady_rate([3.0] * 20)


def test_progress_is_interpolated_between_two_polls():
    samples = [(0.0, 0), (1.0, 100), (2.0, 300)]
    assert time_at_progress(samples, 100) == 1.0
    assert time_at_progress(samples, 200) == pytest.approx(1.5)


def test_progress_that_never_gets_there_is_an_error():
    with pytest.raises(ValueError, match="never reached"):
        time_at_progress([(0.0, 0), (1.0, 10)], 11)


def test_the_rate_of_a_polled_drain_counts_the_middle_of_the_drain():
    # 1000 messages: nothing for 2 s (boot), then 200/s until done.
    samples = [(0.0, 0), (2.0, 0)] + [(2.0 + t / 10, min(1000, 20 * t)) for t in range(1, 60)]
    rate, span = rate_from_progress(samples, 1000)
    assert rate == pytest.approx(200.0)
    assert span == pytest.approx(4.0)
