"""Which organizations send more webhooks a minute than the alert threshold (SPEC §3, §15.6).

Never a rejection: Meta is not throttled into errors. The caller logs a warning naming the
organization, once a minute at most, and counts it. Pure: the caller passes the time and
keeps it thread-safe.
"""

from __future__ import annotations

from datetime import datetime


class BurstWatch:
    """Counts changes per organization per UTC minute."""

    def __init__(self, per_minute: int) -> None:
        self._limit = per_minute
        self._minute: datetime | None = None
        self._counts: dict[str, int] = {}

    def record(self, organization_id: str, now: datetime, count: int = 1) -> bool:
        """Count ``count`` more for the organization; True the first time in this minute
        that it goes over the threshold (the moment to warn). Always False when off (0)."""
        if self._limit <= 0:
            return False
        minute = now.replace(second=0, microsecond=0)
        if minute != self._minute:  # a new minute: yesterday's counts are of no use
            self._minute, self._counts = minute, {}
        before = self._counts.get(organization_id, 0)
        after = before + count
        self._counts[organization_id] = after
        return before <= self._limit < after
