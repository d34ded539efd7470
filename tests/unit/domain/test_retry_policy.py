"""Bounded exponential backoff with jitter, and when attempts are exhausted."""

from __future__ import annotations

import pytest

from domain.retry_policy import MAX_RETRY_WINDOW_MS, RetryPolicy


def test_the_ceiling_doubles_from_the_minimum_up_to_the_maximum():
    policy = RetryPolicy(max_attempts=10, min_backoff_ms=1000, max_backoff_ms=600_000)
    assert [policy.backoff_ceiling_ms(n) for n in range(1, 12)] == [
        1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 512000, 600000,
    ]  # fmt: skip


def test_jitter_keeps_the_delay_between_half_the_ceiling_and_the_ceiling():
    policy = RetryPolicy(max_attempts=10, min_backoff_ms=1000, max_backoff_ms=600_000)
    assert policy.backoff_ms(4, 0.0) == 4000
    assert policy.backoff_ms(4, 0.5) == 6000
    assert policy.backoff_ms(4, 0.999999) == 7999


def test_the_delay_never_drops_below_the_minimum():
    policy = RetryPolicy(max_attempts=3, min_backoff_ms=1000, max_backoff_ms=1000)
    assert policy.backoff_ms(1, 0.0) == 1000


def test_huge_attempt_numbers_stay_at_the_maximum():
    policy = RetryPolicy(max_attempts=10, min_backoff_ms=10, max_backoff_ms=500)
    assert policy.backoff_ceiling_ms(10_000) == 500


def test_a_draw_outside_zero_to_one_is_rejected():
    policy = RetryPolicy(max_attempts=3, min_backoff_ms=10, max_backoff_ms=100)
    with pytest.raises(ValueError, match="draw"):
        policy.backoff_ms(1, 1.0)


def test_attempts_are_exhausted_once_max_attempts_were_made():
    policy = RetryPolicy(max_attempts=3, min_backoff_ms=10, max_backoff_ms=100)
    assert [policy.is_exhausted(n) for n in range(5)] == [False, False, False, True, True]


def test_the_default_policy_window_is_well_under_a_day():
    policy = RetryPolicy(max_attempts=10, min_backoff_ms=1000, max_backoff_ms=600_000)
    assert policy.worst_case_window_ms() == 1000 * (2**9 - 1) + 0  # 1+2+...+256 s
    assert policy.worst_case_window_ms() < MAX_RETRY_WINDOW_MS


@pytest.mark.parametrize(
    ("attempts", "minimum", "maximum"),
    [(0, 10, 100), (3, 0, 100), (3, 200, 100), (500, 1000, 600_000)],
)
def test_unbounded_or_inconsistent_policies_are_refused(attempts: int, minimum: int, maximum: int):
    with pytest.raises(ValueError, match=r"max_attempts|backoff|window"):
        RetryPolicy(attempts, minimum, maximum)
