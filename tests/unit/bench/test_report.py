"""Verdicts compare each figure with its target; the JSON keeps what was printed."""

from __future__ import annotations

import json

import pytest

from bench.report import (
    RESULT_SCHEMA_VERSION,
    Figure,
    Target,
    TargetKind,
    Verdict,
    judge,
    ratio_of,
    result_document,
)

HALF = Target(TargetKind.RATIO_AT_LEAST, 0.5)
TWENTY_MS = Target(TargetKind.VALUE_AT_MOST, 20.0)


def figure(value: float | None, baseline: float | None, target: Target = HALF) -> Figure:
    return Figure(
        key="ingress_throughput",
        title="ingress throughput",
        value=value,
        unit="req/s",
        baseline_name="bare Starlette",
        baseline_value=baseline,
        target=target,
        notes=["a note"],
    )


@pytest.mark.parametrize(
    ("value", "baseline", "verdict"),
    [(500.0, 1000.0, Verdict.PASS), (499.0, 1000.0, Verdict.FAIL), (900.0, 1000.0, Verdict.PASS)],
)
def test_a_ratio_target_passes_from_its_threshold_up(value, baseline, verdict):
    assert judge(HALF, value, baseline) is verdict


@pytest.mark.parametrize(
    ("value", "verdict"), [(20.0, Verdict.PASS), (20.01, Verdict.FAIL), (3.0, Verdict.PASS)]
)
def test_a_ceiling_target_passes_up_to_its_threshold_whatever_the_baseline(value, verdict):
    assert judge(TWENTY_MS, value, 1.0) is verdict
    assert judge(TWENTY_MS, value, None) is verdict


def test_a_figure_without_a_value_or_baseline_is_not_measured_rather_than_passed():
    assert judge(HALF, None, 1000.0) is Verdict.MISSING
    assert judge(HALF, 500.0, None) is Verdict.MISSING
    assert judge(HALF, 500.0, 0.0) is Verdict.MISSING
    assert judge(TWENTY_MS, None, 5.0) is Verdict.MISSING


def test_the_ratio_is_value_over_baseline_and_undefined_for_a_zero_baseline():
    assert ratio_of(250.0, 1000.0) == 0.25
    assert ratio_of(250.0, 0.0) is None
    assert ratio_of(None, 10.0) is None


def test_the_printed_line_shows_value_baseline_ratio_target_and_verdict():
    line = figure(614.0, 2467.0).line()
    assert "ingress throughput" in line
    assert "614 req/s" in line
    assert "baseline bare Starlette 2467 req/s" in line
    assert "ratio 0.25" in line
    assert "target ratio >= 0.50" in line
    assert line.endswith("FAIL")


def test_a_baseline_in_another_unit_is_printed_in_its_own_unit():
    worker = Figure(
        key="worker_throughput",
        title="worker throughput",
        value=120.0,
        unit="events/s",
        baseline_name="Dramatiq no-op",
        baseline_value=1600.0,
        target=HALF,
        baseline_unit="msg/s",
    )
    assert "120 events/s" in worker.line()
    assert "1600 msg/s" in worker.line()
    assert worker.to_json()["baseline"]["unit"] == "msg/s"


def test_a_missing_figure_prints_n_a_instead_of_a_number():
    line = figure(None, 2467.0).line()
    assert "n/a" in line
    assert line.endswith("N/A")


def test_the_result_document_holds_every_figure_and_counts_the_verdicts():
    figures = [figure(614.0, 2467.0), figure(1500.0, 2467.0), figure(3.0, None, TWENTY_MS)]
    figures.append(figure(None, None))
    document = result_document(
        figures=figures,
        scenarios={"ingress": {"bare_closed_loop": {"requests_per_s": 2467.0}}},
        environment={"cpu_count": 2},
        run={"mode": "quick"},
    )
    assert document["schema_version"] == RESULT_SCHEMA_VERSION
    assert document["summary"] == {"passed": 2, "failed": 1, "missing": 1}
    first = document["figures"][0]
    assert first == {
        "key": "ingress_throughput",
        "title": "ingress throughput",
        "value": 614.0,
        "unit": "req/s",
        "baseline": {"name": "bare Starlette", "value": 2467.0, "unit": "req/s"},
        "ratio": 0.249,
        "target": {"kind": "ratio_at_least", "threshold": 0.5},
        "verdict": "FAIL",
        "notes": ["a note"],
    }
    assert document["environment"] == {"cpu_count": 2}
    assert json.loads(json.dumps(document)) == document
