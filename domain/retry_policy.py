"""How long to wait before the next attempt of a failed event, and when to stop.

Pure: the caller passes the attempt number and a random draw, so tests are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

#: How long the whole retry window of one event may last before the policy is rejected.
MAX_RETRY_WINDOW_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter.

    ``max_attempts`` counts every attempt, the first included: with 10, an event is tried
    at most 10 times and dead-lettered when the 10th fails.
    """

    max_attempts: int
    min_backoff_ms: int
    max_backoff_ms: int

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < self.min_backoff_ms <= self.max_backoff_ms:
            raise ValueError("backoff bounds must satisfy 0 < min_backoff_ms <= max_backoff_ms")
        if self.worst_case_window_ms() >= MAX_RETRY_WINDOW_MS:
            raise ValueError(
                "the retry window (max_attempts x backoff) must stay under one day, "
                f"got {self.worst_case_window_ms() // 1000} s"
            )

    def backoff_ceiling_ms(self, attempt: int) -> int:
        """The largest delay after the ``attempt``-th failure (1-based): min * 2^(attempt-1)."""
        exponent = max(attempt - 1, 0)
        # Cap the exponent before shifting so huge attempt numbers stay cheap.
        if exponent >= 63:
            return self.max_backoff_ms
        return min(self.min_backoff_ms << exponent, self.max_backoff_ms)

    def backoff_ms(self, attempt: int, draw: float) -> int:
        """Delay after the ``attempt``-th failure, with "equal jitter" from ``draw`` in [0, 1).

        Half of the ceiling is kept so retries never collapse to zero, the other half is
        spread by ``draw`` so failing events do not come back in lockstep.
        """
        if not 0.0 <= draw < 1.0:
            raise ValueError("draw must be in [0, 1)")
        ceiling = self.backoff_ceiling_ms(attempt)
        half = ceiling // 2
        return max(self.min_backoff_ms, half + int(draw * (ceiling - half)))

    def is_exhausted(self, attempts: int) -> bool:
        """True once ``attempts`` attempts have been made and none may follow."""
        return attempts >= self.max_attempts

    def worst_case_window_ms(self) -> int:
        """Sum of the largest delays between the first and the last attempt."""
        return sum(self.backoff_ceiling_ms(n) for n in range(1, self.max_attempts))
