"""Figures, their verdicts, the printed lines and the JSON document of a run."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

RESULT_SCHEMA_VERSION = 1


class Verdict(enum.Enum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    MISSING = "N/A"  # the value or its baseline could not be measured


class TargetKind(enum.Enum):
    RATIO_AT_LEAST = "ratio_at_least"  # value / baseline >= threshold
    VALUE_AT_MOST = "value_at_most"  # value <= threshold (in the figure's unit)


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    threshold: float

    def describe(self, unit: str) -> str:
        if self.kind is TargetKind.RATIO_AT_LEAST:
            return f"ratio >= {self.threshold:.2f}"
        return f"<= {_number(self.threshold)} {unit}"


def ratio_of(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``; None when either is missing or the baseline is not positive."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


def judge(target: Target, value: float | None, baseline: float | None) -> Verdict:
    if target.kind is TargetKind.RATIO_AT_LEAST:
        ratio = ratio_of(value, baseline)
        if ratio is None:
            return Verdict.MISSING
        return Verdict.PASS if ratio >= target.threshold else Verdict.FAIL
    if value is None:
        return Verdict.MISSING
    return Verdict.PASS if value <= target.threshold else Verdict.FAIL


@dataclass
class Figure:
    """One measured figure beside its baseline (measured in the same run)."""

    key: str
    title: str
    value: float | None
    unit: str
    baseline_name: str
    baseline_value: float | None
    target: Target
    notes: list[str] = field(default_factory=list)
    baseline_unit: str | None = None  # when the baseline counts something else (msg/s)

    @property
    def ratio(self) -> float | None:
        return ratio_of(self.value, self.baseline_value)

    @property
    def verdict(self) -> Verdict:
        return judge(self.target, self.value, self.baseline_value)

    def line(self) -> str:
        value = "n/a" if self.value is None else f"{_number(self.value)} {self.unit}"
        baseline = (
            "n/a"
            if self.baseline_value is None
            else f"{_number(self.baseline_value)} {self.baseline_unit or self.unit}"
        )
        ratio = "n/a" if self.ratio is None else f"{self.ratio:.2f}"
        return (
            f"{self.title:<28} {value:>16}   baseline {self.baseline_name} {baseline}"
            f"   ratio {ratio}   target {self.target.describe(self.unit)}"
            f"   {self.verdict.value}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "value": _rounded(self.value),
            "unit": self.unit,
            "baseline": {
                "name": self.baseline_name,
                "value": _rounded(self.baseline_value),
                "unit": self.baseline_unit or self.unit,
            },
            "ratio": _rounded(self.ratio, 3),
            "target": {"kind": self.target.kind.value, "threshold": self.target.threshold},
            "verdict": self.verdict.value,
            "notes": list(self.notes),
        }


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def result_document(
    *,
    figures: list[Figure],
    scenarios: dict[str, Any],
    environment: dict[str, Any],
    run: dict[str, Any],
) -> dict[str, Any]:
    """The JSON written to ``bench/results/latest.json``."""
    verdicts = [figure.verdict for figure in figures]
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "run": run,
        "environment": environment,
        "figures": [figure.to_json() for figure in figures],
        "summary": {
            "passed": sum(v is Verdict.PASS for v in verdicts),
            "failed": sum(v is Verdict.FAIL for v in verdicts),
            "missing": sum(v is Verdict.MISSING for v in verdicts),
        },
        "scenarios": scenarios,
    }
