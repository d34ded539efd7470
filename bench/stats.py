"""Pure arithmetic of the report: percentiles, rates from completion times."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``pct`` % at or below it.

    Raises:
        ValueError: no values, or ``pct`` outside (0, 100].
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile must be in (0, 100]: {pct}")
    ordered = sorted(values)
    rank = math.ceil(pct / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def _label(pct: float) -> str:
    return "p" + (f"{pct:g}".replace(".", ""))


def summarize_latencies(values: Sequence[float], *, scale: float = 1.0) -> dict[str, Any]:
    """Count, mean, p50/p90/p99/p99.9 and max, each multiplied by ``scale`` (1000 → ms)."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    summary: dict[str, Any] = {"count": len(ordered)}
    summary["mean"] = round(sum(ordered) / len(ordered) * scale, 3)
    for pct in PERCENTILES:
        summary[_label(pct)] = round(percentile(ordered, pct) * scale, 3)
    summary["max"] = round(ordered[-1] * scale, 3)
    return summary


def steady_rate(
    completions: Sequence[float], *, low: float = 0.1, high: float = 0.9
) -> tuple[float, float]:
    """Completions per second between the ``low`` and ``high`` quantiles of their times.

    Drops the start-up and the tail of a drain, where workers were still booting or running
    out of work. Returns (rate, seconds the rate was measured over).

    Raises:
        ValueError: fewer than 10 completions, or all in the same instant.
    """
    if len(completions) < 10:
        raise ValueError(f"too few completions to measure a rate: {len(completions)}")
    ordered = sorted(completions)
    first = int(len(ordered) * low)
    last = max(first + 1, math.ceil(len(ordered) * high) - 1)
    span = ordered[last] - ordered[first]
    if span <= 0:
        raise ValueError("all completions at the same instant")
    return (last - first) / span, span


def time_at_progress(samples: Sequence[tuple[float, int]], done: float) -> float:
    """When a monotone progress curve ``(time, completed)`` reached ``done`` (interpolated).

    Raises:
        ValueError: the curve never reaches ``done``.
    """
    previous: tuple[float, int] | None = None
    for moment, completed in samples:
        if completed >= done:
            if previous is None or completed == previous[1]:
                return moment
            fraction = (done - previous[1]) / (completed - previous[1])
            return previous[0] + fraction * (moment - previous[0])
        previous = (moment, completed)
    raise ValueError(f"progress never reached {done}")


def rate_from_progress(
    samples: Sequence[tuple[float, int]], total: int, *, low: float = 0.1, high: float = 0.9
) -> tuple[float, float]:
    """Completions per second between ``low`` and ``high`` of ``total`` on a polled curve.

    Returns (rate, seconds the rate was measured over).

    Raises:
        ValueError: the curve does not reach ``high`` of ``total``, or does so instantly.
    """
    start = time_at_progress(samples, low * total)
    end = time_at_progress(samples, high * total)
    if end <= start:
        raise ValueError("progress jumped from low to high between two samples")
    return (high - low) * total / (end - start), end - start
