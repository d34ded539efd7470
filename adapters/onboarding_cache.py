"""Pending onboardings cached in Redis (SPEC §7.1), failing open to Postgres.

One key per onboarding, ``{namespace}:onboarding:{tracking_code}``, written once when the
onboarding is created, with a TTL equal to its remaining lifetime: Redis drops it when the
tracking code expires, so nothing ever scans or deletes keys by pattern (the seed's cleanup
did, and destroyed live onboardings).

Only *pending* onboardings are cached. The session request deletes the key (one exact key)
once the onboarding leaves ``pending``, so every later read goes to Postgres, where the
worker records completion. Reads never refill the cache: a read that raced a session could
otherwise put a stale ``pending`` back. Postgres stays the record of truth; the cache only
spares it the polling of pending codes.

Every Redis failure is a miss (logged; Redis is then skipped for ``FAILURE_COOLDOWN_S`` so an
outage costs no latency per request). A value that does not parse is a miss too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from adapters.onboarding_store import OnboardingRecord

log = logging.getLogger(__name__)

FAILURE_COOLDOWN_S = 2.0
PENDING = "pending"


def cache_key(namespace: str, tracking_code: str) -> str:
    return f"{namespace}:onboarding:{tracking_code}"


def _encode(record: OnboardingRecord) -> str:
    return json.dumps(
        {
            "organization_id": record.organization_id,
            "status": record.status,
            "waba_id": record.waba_id,
            "expires_at": record.expires_at.isoformat(),
        }
    )


def _decode(tracking_code: str, raw: bytes | str) -> OnboardingRecord:
    data = json.loads(raw)
    expires_at = datetime.fromisoformat(data["expires_at"])
    if expires_at.tzinfo is None:
        raise ValueError("expires_at without a time zone")
    return OnboardingRecord(
        tracking_code=tracking_code,
        organization_id=str(data["organization_id"]),
        status=str(data["status"]),
        waba_id=data["waba_id"],
        expires_at=expires_at,
    )


class OnboardingCache:
    """The Redis side of onboarding reads; every method fails open."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        namespace: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._clock = clock
        self._skip_until = 0.0

    def _available(self) -> bool:
        return self._clock() >= self._skip_until

    def _failed(self, operation: str, error: Exception) -> None:
        self._skip_until = self._clock() + FAILURE_COOLDOWN_S
        log.warning(
            "onboarding cache %s failed; reading Postgres instead: %s",
            operation,
            type(error).__name__,
        )

    async def put(self, record: OnboardingRecord, ttl_seconds: float) -> bool:
        """Cache a pending onboarding for ``ttl_seconds``; False when not cached."""
        if record.status != PENDING or ttl_seconds < 1 or not self._available():
            return False
        try:
            await self._client.set(
                cache_key(self._namespace, record.tracking_code),
                _encode(record),
                px=int(ttl_seconds * 1000),
                nx=True,
            )
        except (RedisError, OSError) as error:
            self._failed("put", error)
            return False
        return True

    async def get(self, tracking_code: str) -> OnboardingRecord | None:
        """The cached pending onboarding; None on a miss, a failure or an unreadable value."""
        if not self._available():
            return None
        try:
            raw = await self._client.get(cache_key(self._namespace, tracking_code))
        except (RedisError, OSError) as error:
            self._failed("get", error)
            return None
        if raw is None:
            return None
        try:
            record = _decode(tracking_code, raw)
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable onboarding cache entry; reading Postgres instead")
            return None
        return record if record.status == PENDING else None

    async def forget(self, tracking_code: str) -> bool:
        """Drop the entry of an onboarding that left ``pending``; False when Redis failed."""
        try:
            await self._client.delete(cache_key(self._namespace, tracking_code))
        except (RedisError, OSError) as error:
            self._failed("forget", error)
            return False
        return True
