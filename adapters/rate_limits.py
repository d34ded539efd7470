"""Per-IP limits in Redis, fixed one-minute windows, failing open.

Two counters per client address: requests (only when ``RATE_LIMIT_PER_IP`` is set) and failed
signature checks. When Redis cannot answer, every request is allowed: abuse limits must never
turn a Redis outage into lost Meta deliveries. The caller counts those fail-open decisions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

WINDOW_SECONDS = 60
#: After a Redis failure, skip Redis for this long so an outage costs no latency per request.
FAIL_OPEN_COOLDOWN_S = 2.0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: int = 0
    failed_open: bool = False


ALLOW = Decision(allowed=True)


class RedisRateLimiter:
    """Counts requests and bad signatures per IP; ``0`` disables a limit."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        namespace: str,
        requests_per_minute: int,
        bad_signatures_per_minute: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = f"{namespace}:rl"
        self._requests = requests_per_minute
        self._bad_signatures = bad_signatures_per_minute
        self._clock = clock
        self._skip_until = 0.0

    @property
    def enabled(self) -> bool:
        """True when at least one limit is set, so decisions consult Redis."""
        return bool(self._requests or self._bad_signatures)

    def _redis_skipped(self) -> bool:
        return time.monotonic() < self._skip_until

    def _trip(self) -> None:
        self._skip_until = time.monotonic() + FAIL_OPEN_COOLDOWN_S

    def _window(self) -> tuple[int, int]:
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        return window, retry_after

    async def check(self, ip: str) -> Decision:
        """May this IP post now? One round trip; fails open."""
        if not self.enabled:
            return ALLOW
        if self._redis_skipped():
            return Decision(allowed=True, failed_open=True)
        window, retry_after = self._window()
        bad_key = f"{self._prefix}:bad:{ip}:{window}"
        req_key = f"{self._prefix}:req:{ip}:{window}"
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                if self._bad_signatures:
                    pipe.get(bad_key)
                if self._requests:
                    pipe.incr(req_key)
                    pipe.expire(req_key, WINDOW_SECONDS * 2)
                results = await pipe.execute()
        except (RedisError, OSError):
            self._trip()
            return Decision(allowed=True, failed_open=True)
        position = 0
        if self._bad_signatures:
            failures = int(results[0] or 0)
            position = 1
            if failures >= self._bad_signatures:
                return Decision(allowed=False, retry_after=retry_after)
        if self._requests and int(results[position]) > self._requests:
            return Decision(allowed=False, retry_after=retry_after)
        return ALLOW

    async def record_bad_signature(self, ip: str) -> bool:
        """Count one failed signature; False when Redis could not record it."""
        if not self._bad_signatures:
            return True
        if self._redis_skipped():
            return False
        window, _ = self._window()
        key = f"{self._prefix}:bad:{ip}:{window}"
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS * 2)
                await pipe.execute()
        except (RedisError, OSError):
            self._trip()
            return False
        return True
