"""What the runner reads from /proc, the command line and the environment."""

from __future__ import annotations

import argparse
import itertools
from collections import Counter
from typing import Any

import pytest

from bench.fill import chunk_bounds, fill_parameters
from bench.loadgen import LoadResult, LoadSpec, ProcessResult
from bench.procs import CLOCK_TICKS, parse_machine_busy_seconds, parse_stat, parse_vm_rss_kib
from bench.runner import DEFAULT_GROWTH_ROWS, QUICK_GROWTH_ROWS, growth_rows, parse_selection
from bench.scenarios import SCENARIOS
from bench.scenarios.ingress import mean_batch, merge_runs, parse_prometheus

STATUS = """Name:\tpython
State:\tS (sleeping)
VmPeak:\t  300000 kB
VmRSS:\t   57344 kB
RssAnon:\t   40000 kB
"""


def test_the_resident_size_is_read_from_vmrss_not_from_the_other_vm_lines():
    assert parse_vm_rss_kib(STATUS) == 57344


def test_a_kernel_thread_has_no_resident_size():
    assert parse_vm_rss_kib("Name:\tkthreadd\nState:\tS (sleeping)\n") is None


def test_the_cpu_time_of_a_process_is_user_plus_system_even_with_odd_command_names():
    fields = ["S", "4242"] + ["0"] * 9 + [str(3 * CLOCK_TICKS), str(CLOCK_TICKS)] + ["0"] * 30
    stat = "1234 (python -m (x) y) " + " ".join(fields)
    assert parse_stat(stat) == (4242, 4.0)


def test_without_only_every_scenario_runs():
    assert parse_selection(None) == frozenset(SCENARIOS)


def test_only_accepts_a_comma_separated_subset():
    assert parse_selection("ingress, growth") == frozenset({"ingress", "growth"})


@pytest.mark.parametrize("text", ["ingres", "ingress,disk", ",", ""])
def test_only_refuses_unknown_or_empty_names(text: str):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_selection(text)


def test_the_growth_fill_is_ten_million_rows_unless_quick_or_configured():
    assert growth_rows({}, quick=False) == DEFAULT_GROWTH_ROWS == 10_000_000
    assert growth_rows({}, quick=True) == QUICK_GROWTH_ROWS
    assert growth_rows({"WAPIPE_BENCH_GROWTH_ROWS": "2_500_000"}, quick=False) == 2_500_000
    assert growth_rows({"WAPIPE_BENCH_GROWTH_ROWS": "5000"}, quick=True) == 5000


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_growth_row_count_that_is_not_a_positive_integer_is_refused(value: str):
    with pytest.raises(ValueError):  # noqa: PT011 - int() and our own check word it differently
        growth_rows({"WAPIPE_BENCH_GROWTH_ROWS": value}, quick=False)


def test_fill_chunks_cover_every_id_once():
    bounds = chunk_bounds(1_000_001, 250_000)
    assert bounds[0] == (1, 250_000)
    assert bounds[-1] == (1_000_001, 1_000_001)
    covered = sum(last - first + 1 for first, last in bounds)
    assert covered == 1_000_001
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(bounds))


def test_fill_history_ends_before_now_and_spans_the_days_asked_for():
    params = fill_parameters(10, days=30)
    assert params["span"] == 30 * 86_400 - 7_200
    with pytest.raises(ValueError, match="rows"):
        fill_parameters(0)
    with pytest.raises(ValueError, match="days"):
        fill_parameters(10, days=0)


def test_prometheus_samples_are_read_with_their_labels():
    text = (
        "# HELP wapipe_ingest_batch_size Webhooks committed together.\n"
        "# TYPE wapipe_ingest_batch_size histogram\n"
        'wapipe_ingest_batch_size_bucket{le="1.0"} 3.0\n'
        "wapipe_ingest_batch_size_count 12.0\n"
        "wapipe_ingest_batch_size_sum 96.0\n"
        'wapipe_webhooks_received_total{outcome="accepted"} 1.5e+04\n'
    )
    samples = parse_prometheus(text)
    assert samples["wapipe_ingest_batch_size_count"] == 12.0
    assert samples["wapipe_ingest_batch_size_sum"] == 96.0
    assert samples['wapipe_webhooks_received_total{outcome="accepted"}'] == 15_000.0
    assert samples['wapipe_ingest_batch_size_bucket{le="1.0"}'] == 3.0


def test_a_load_result_adds_up_its_processes():
    spec = LoadSpec(host="127.0.0.1", port=1, secret="s", tag="t", processes=2, duration_s=10.0)
    first = ProcessResult(0, ok=1000, statuses=Counter({200: 1000, 503: 5}), transport_errors=1)
    first.window_cpu_s, first.window_wall_s = 2.0, 10.0
    second = ProcessResult(1, ok=500, statuses=Counter({200: 500}), timeouts=2)
    second.window_cpu_s, second.window_wall_s = 3.0, 10.0
    result = LoadResult(spec, [first, second])
    assert result.ok == 1500
    assert result.requests_per_s == 150.0
    assert result.statuses == Counter({200: 1500, 503: 5})
    assert result.failures == 5 + 1 + 2
    assert result.generator_cpu == pytest.approx(0.5)
    summary = result.summary()
    assert summary["requests_per_s"] == 150.0
    assert summary["statuses"] == {"200": 1500, "503": 5}
    assert summary["generator_cpu_per_process"] == [0.2, 0.3]


def test_the_mean_batch_is_taken_between_two_scrapes_only():
    before = {"wapipe_ingest_batch_size_count": 10.0, "wapipe_ingest_batch_size_sum": 10.0}
    after = {"wapipe_ingest_batch_size_count": 30.0, "wapipe_ingest_batch_size_sum": 170.0}
    assert mean_batch(before, after) == 8.0
    assert mean_batch(after, after) is None


def run_details(rps: float, rss: float, errors: int = 0) -> dict[str, Any]:
    return {
        "requests_per_s": rps,
        "server_cpu_cores": 1.0,
        "server_cpu_us_per_request": 1e6 / rps,
        "generator_cpu_cores": 0.2,
        "mean_group_commit_batch": None,
        "transport_errors": errors,
        "timeouts": 0,
        "statuses": {"200": int(rps * 10), "503": 1},
        "server_rss_peak_mb": rss,
        "processes": 2,
        "connections": 64,
        "body_bytes": 2048,
        "duration_s": 10.0,
        "warmup_s": 3.0,
    }


def test_alternated_rounds_are_merged_into_means_with_every_run_kept():
    runs = [run_details(500.0, 50.0, errors=2), run_details(600.0, 57.0)]
    merged = merge_runs(runs)
    assert merged["requests_per_s"] == 550.0
    assert merged["generator_cpu_cores"] == 0.2
    assert merged["mean_group_commit_batch"] is None
    assert merged["failures"] == 2 + 1 + 1  # transport errors and each run's 503
    assert merged["server_rss_peak_mb"] == 57.0
    assert merged["rounds"] == 2
    assert merged["runs"] == runs


def test_merging_no_runs_is_an_error():
    with pytest.raises(ValueError, match="no runs"):
        merge_runs([])


def test_the_machine_is_busy_for_every_tick_but_idle_and_io_wait():
    ticks = [3, 1, 2, 10, 4, 1, 1, 2, 5, 0]  # user nice system idle iowait irq softirq steal …
    line = "cpu  " + " ".join(str(t * CLOCK_TICKS) for t in ticks)
    text = f"{line}\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 123\n"
    assert parse_machine_busy_seconds(text) == 3 + 1 + 2 + 1 + 1 + 2


def test_a_proc_stat_without_the_aggregate_line_is_an_error():
    with pytest.raises(ValueError, match="aggregate"):
        parse_machine_busy_seconds("cpu0 1 2 3 4\n")
