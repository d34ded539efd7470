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
#: How long an IP with no failed signature in the window is trusted without asking Redis.
#: Meta posts from few addresses at high rates: this keeps Redis off the hot path. The cost:
#: another replica's failures reach this one's decisions up to this much later.
CLEAN_IP_CACHE_S = 1.0
MAX_CACHED_IPS = 10_000


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
        self._clean_until: dict[str, float] = {}

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
        """May this IP post now? At most one round trip; fails open."""
        if not self.enabled:
            return ALLOW
        if self._redis_skipped():
            return Decision(allowed=True, failed_open=True)
        if not self._requests and self._clean_until.get(ip, 0.0) > self._clock():
            return ALLOW
        window, retry_after = self._window()
        try:
            failures, requests = await self._count(ip, window)
        except (RedisError, OSError):
            self._trip()
            return Decision(allowed=True, failed_open=True)
        over_failures = bool(self._bad_signatures) and failures >= self._bad_signatures
        over_requests = bool(self._requests) and requests > self._requests
        if over_failures or over_requests:
            return Decision(allowed=False, retry_after=retry_after)
        if failures == 0 and not self._requests:
            self._remember_clean(ip)
        return ALLOW

    async def _count(self, ip: str, window: int) -> tuple[int, int]:
        """(failed signatures so far, requests including this one) in ``window``."""
        async with self._client.pipeline(transaction=False) as pipe:
            if self._bad_signatures:
                pipe.get(f"{self._prefix}:bad:{ip}:{window}")
            if self._requests:
                req_key = f"{self._prefix}:req:{ip}:{window}"
                pipe.incr(req_key)
                pipe.expire(req_key, WINDOW_SECONDS * 2)
            results = await pipe.execute()
        failures = int(results.pop(0) or 0) if self._bad_signatures else 0
        requests = int(results[0]) if self._requests else 0
        return failures, requests

    def _remember_clean(self, ip: str) -> None:
        if len(self._clean_until) >= MAX_CACHED_IPS:
            self._clean_until.clear()  # many addresses: this is not Meta; ask Redis each time
        self._clean_until[ip] = self._clock() + CLEAN_IP_CACHE_S

    async def record_bad_signature(self, ip: str) -> bool:
        """Count one failed signature; False when Redis could not record it."""
        if not self._bad_signatures:
            return True
        self._clean_until.pop(ip, None)
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
