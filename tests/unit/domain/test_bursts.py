"""An organization over the per-minute threshold is reported once a minute, never throttled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.bursts import BurstWatch

T = datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)


def test_crossing_the_threshold_is_reported_once_in_the_minute():
    watch = BurstWatch(per_minute=3)

    seen = [watch.record("org-a", T + timedelta(seconds=i)) for i in range(6)]

    assert seen == [False, False, False, True, False, False]


def test_a_new_minute_starts_counting_again():
    watch = BurstWatch(per_minute=1)
    assert [watch.record("org-a", T), watch.record("org-a", T)] == [False, True]

    later = T + timedelta(minutes=1)

    assert [watch.record("org-a", later), watch.record("org-a", later)] == [False, True]


def test_organizations_are_counted_apart():
    watch = BurstWatch(per_minute=1)
    watch.record("org-a", T)

    assert watch.record("org-b", T) is False
    assert watch.record("org-a", T) is True


def test_zero_turns_the_alert_off():
    watch = BurstWatch(per_minute=0)

    assert not any(watch.record("org-a", T) for _ in range(100))
