"""Admin replays are bounded per process: a token bucket, and 429 beyond it (no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection

from adapters.api_keys import ApiPrincipal, KeyScope
from adapters.postgres import create_async_pool
from ingress.api.app import build_api
from ingress.api.auth import ApiUser
from ingress.api.context import ApiContext
from ingress.api.routes import ROUTES
from runtime.services.dead_letters import DEFAULT_REPLAY_RATE, ReplayThrottle

ADMIN = ApiPrincipal("ak_000000000002", KeyScope.ADMIN, None, "ops")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class AdminBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        return AuthCredentials(["authenticated"]), ApiUser(ADMIN)


def test_a_throttle_allows_its_burst_then_says_how_long_to_wait():
    clock = Clock()
    throttle = ReplayThrottle(rate=2, burst=3, clock=clock)

    assert [throttle.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.acquire() == pytest.approx(0.5)
    clock.now += 0.5
    assert throttle.acquire() == 0.0
    assert throttle.acquire() == pytest.approx(0.5)


def test_a_throttle_refills_at_its_rate_up_to_its_burst_only():
    clock = Clock()
    throttle = ReplayThrottle(rate=10, burst=2, clock=clock)
    throttle.acquire(2)

    clock.now += 60

    assert [throttle.acquire() for _ in range(2)] == [0.0, 0.0]
    assert throttle.acquire() > 0


def test_the_default_rate_is_the_clis_and_bursts_up_to_one_second_of_it():
    throttle = ReplayThrottle()
    assert throttle.rate == DEFAULT_REPLAY_RATE
    assert throttle.burst == DEFAULT_REPLAY_RATE


def test_a_throttle_needs_a_positive_rate():
    with pytest.raises(ValueError, match="positive"):
        ReplayThrottle(rate=0)


@pytest.fixture
async def exhausted_api() -> AsyncIterator[httpx.AsyncClient]:
    throttle = ReplayThrottle(rate=1, burst=1, clock=Clock())
    throttle.acquire()
    # No database at all: a replay beyond the rate is refused before anything is touched.
    context = ApiContext(
        pool=create_async_pool("postgresql://never-opened.invalid/x", name="unit"),
        replay_throttle=throttle,
    )
    transport = httpx.ASGITransport(app=build_api(ROUTES, context, AdminBackend()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.anyio
async def test_a_replay_beyond_the_rate_is_429_with_retry_after(
    exhausted_api: httpx.AsyncClient,
):
    response = await exhausted_api.post("/admin/dead-letters/7/replay")

    assert response.status_code == 429
    assert response.json() == {"error": "rate_limited", "detail": "at most 1 replays per second"}
    assert response.headers["retry-after"] == "1"
