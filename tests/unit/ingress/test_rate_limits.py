"""Per-IP limits in Redis (fakeredis here): fixed windows, Retry-After, and failing open.

The limiter lives in ``adapters/rate_limits.py``; its only user is the ingress, so its unit
tests sit with the ingress ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import pytest

from adapters import rate_limits
from adapters.rate_limits import RedisRateLimiter

pytestmark = pytest.mark.anyio

NAMESPACE = "unit-ns"
IP = "203.0.113.9"
#: A clock reading 15 s into a one-minute window.
WINDOW_START = 60.0 * 28_000_000
NOW = WINDOW_START + 15


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
async def client(server: fakeredis.FakeServer) -> AsyncIterator[fakeredis.FakeAsyncRedis]:
    redis = fakeredis.FakeAsyncRedis(server=server)
    try:
        yield redis
    finally:
        await redis.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def limiter(
    client: fakeredis.FakeAsyncRedis, clock: FakeClock, *, requests: int = 0, bad: int = 0
) -> RedisRateLimiter:
    return RedisRateLimiter(
        client,
        namespace=NAMESPACE,
        requests_per_minute=requests,
        bad_signatures_per_minute=bad,
        clock=clock,
    )


async def test_bad_signatures_below_the_limit_are_allowed(client, clock):
    limits = limiter(client, clock, bad=3)
    for _ in range(2):
        assert await limits.record_bad_signature(IP)
    decision = await limits.check(IP)
    assert decision.allowed
    assert not decision.failed_open


async def test_reaching_the_bad_signature_limit_blocks_the_ip_until_the_window_ends(client, clock):
    limits = limiter(client, clock, bad=3)
    for _ in range(3):
        assert await limits.record_bad_signature(IP)

    decision = await limits.check(IP)
    assert not decision.allowed
    assert decision.retry_after == 45

    clock.now = WINDOW_START + 59.5
    decision = await limits.check(IP)
    assert not decision.allowed
    assert decision.retry_after == 1

    clock.now = WINDOW_START + 60
    assert (await limits.check(IP)).allowed


async def test_a_blocked_ip_does_not_block_another(client, clock):
    limits = limiter(client, clock, bad=1)
    await limits.record_bad_signature(IP)
    assert not (await limits.check(IP)).allowed
    assert (await limits.check("198.51.100.1")).allowed


async def test_the_request_limit_allows_that_many_requests_per_window(client, clock):
    limits = limiter(client, clock, requests=2)
    assert (await limits.check(IP)).allowed
    assert (await limits.check(IP)).allowed
    decision = await limits.check(IP)
    assert not decision.allowed
    assert decision.retry_after == 45

    clock.now = WINDOW_START + 60
    assert (await limits.check(IP)).allowed


async def test_both_limits_apply_together(client, clock):
    limits = limiter(client, clock, requests=3, bad=1)
    assert (await limits.check(IP)).allowed
    await limits.record_bad_signature(IP)
    assert not (await limits.check(IP)).allowed

    other = "198.51.100.1"
    for _ in range(3):
        assert (await limits.check(other)).allowed
    assert not (await limits.check(other)).allowed


async def test_counters_live_under_the_namespace_and_expire(client, clock):
    limits = limiter(client, clock, requests=5, bad=5)
    await limits.check(IP)
    await limits.record_bad_signature(IP)
    keys = [key.decode() for key in await client.keys("*")]
    assert keys
    for key in keys:
        assert key.startswith(f"{NAMESPACE}:rl:")
        assert 0 < await client.ttl(key) <= 2 * rate_limits.WINDOW_SECONDS


async def test_disabled_limits_never_touch_redis(client, clock, server):
    server.connected = False  # any command would raise ConnectionError
    limits = limiter(client, clock)
    decision = await limits.check(IP)
    assert decision.allowed
    assert not decision.failed_open
    assert await limits.record_bad_signature(IP)


async def test_a_disabled_bad_signature_limit_records_nothing(client, clock):
    limits = limiter(client, clock, requests=10)
    assert await limits.record_bad_signature(IP)
    assert await client.keys(f"{NAMESPACE}:rl:bad:*") == []


async def test_when_redis_fails_requests_are_allowed_and_marked_failed_open(client, clock, server):
    limits = limiter(client, clock, bad=1)
    await limits.record_bad_signature(IP)
    assert not (await limits.check(IP)).allowed

    server.connected = False
    decision = await limits.check(IP)
    assert decision.allowed
    assert decision.failed_open
    assert not await limits.record_bad_signature(IP)


async def test_after_a_failure_redis_is_skipped_for_the_cooldown(client, clock, server):
    limits = limiter(client, clock, bad=1)
    await limits.record_bad_signature(IP)
    server.connected = False
    assert (await limits.check(IP)).failed_open

    server.connected = True
    # Redis answers again and would block this IP, but the cooldown skips it.
    decision = await limits.check(IP)
    assert decision.allowed
    assert decision.failed_open
    assert not await limits.record_bad_signature(IP)


async def test_once_the_cooldown_passes_redis_decides_again(client, clock, server, monkeypatch):
    monkeypatch.setattr(rate_limits, "FAIL_OPEN_COOLDOWN_S", 0.0)
    limits = limiter(client, clock, bad=1)
    await limits.record_bad_signature(IP)
    server.connected = False
    assert (await limits.check(IP)).failed_open

    server.connected = True
    decision = await limits.check(IP)
    assert not decision.allowed
    assert not decision.failed_open


async def test_a_clean_ip_is_trusted_for_a_moment_without_asking_redis_again(
    client: fakeredis.FakeAsyncRedis, clock: FakeClock
):
    this_replica = limiter(client, clock, bad=2)
    assert (await this_replica.check(IP)).allowed
    # Another replica sees two bad signatures from the same address.
    other_replica = limiter(client, clock, bad=2)
    await other_replica.record_bad_signature(IP)
    await other_replica.record_bad_signature(IP)
    assert not (await other_replica.check(IP)).allowed
    # This replica trusted the clean answer for CLEAN_IP_CACHE_S, then asks again.
    assert (await this_replica.check(IP)).allowed
    clock.now += rate_limits.CLEAN_IP_CACHE_S + 0.01
    decision = await this_replica.check(IP)
    assert not decision.allowed
    assert decision.retry_after > 0


async def test_a_bad_signature_seen_here_ends_the_trust_at_once(
    client: fakeredis.FakeAsyncRedis, clock: FakeClock
):
    gate = limiter(client, clock, bad=1)
    assert (await gate.check(IP)).allowed
    await gate.record_bad_signature(IP)
    assert not (await gate.check(IP)).allowed


async def test_with_a_request_limit_every_request_is_counted_in_redis(
    client: fakeredis.FakeAsyncRedis, clock: FakeClock
):
    gate = limiter(client, clock, requests=3, bad=5)
    answers = [(await gate.check(IP)).allowed for _ in range(4)]
    assert answers == [True, True, True, False]
