"""The API as the ingress serves it: the real app with its lifespan, on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import dramatiq
import httpx
import psycopg
import pytest
import redis

from domain.token_crypto import TokenCipher
from runtime.bootstrap import build_async_code_exchange, build_token_cipher
from runtime.settings import Settings
from tests.builders import APP_SECRET
from tests.fake_graph import DEFAULT_APP_ID, DEFAULT_VERSION, FakeGraph
from tests.integration.ingress.harness import running_ingress


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # psycopg's async pool runs on asyncio


@pytest.fixture
async def api(
    make_settings: Callable[..., Settings], db: psycopg.Connection[Any]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running ingress; ``db`` (emptied first) is where tests put rows."""
    async with running_ingress(make_settings()) as client:
        yield client


#: One token key (``kid:hexkey``): sessions store the business token under it.
TOKEN_KEYS = "k1:" + "5a" * 32


@pytest.fixture
def graph() -> FakeGraph:
    """Meta's Graph for the app the settings name (the code exchange goes to it)."""
    return FakeGraph(app_id=DEFAULT_APP_ID, app_secret=APP_SECRET)


@pytest.fixture
def onboarding_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        META_APP_ID=DEFAULT_APP_ID, TOKEN_KEYS=TOKEN_KEYS, GRAPH_API_VERSION=DEFAULT_VERSION
    )


@pytest.fixture
def cipher(onboarding_settings: Settings) -> TokenCipher:
    built = build_token_cipher(onboarding_settings)
    assert built is not None
    return built


@pytest.fixture
async def onboarding_api(
    onboarding_settings: Settings, graph: FakeGraph, db: psycopg.Connection[Any]
) -> AsyncIterator[httpx.AsyncClient]:
    """The running ingress with Graph configured: its code exchange talks to ``graph``."""
    exchange = build_async_code_exchange(
        onboarding_settings, transport=httpx.MockTransport(graph.handler)
    )
    async with running_ingress(onboarding_settings, code_exchange=exchange) as client:
        yield client


@pytest.fixture
def broker_queue(redis_url: str, namespace: str) -> Iterator[Callable[[str], list[int]]]:
    """``broker_queue(EVENTS_QUEUE)``: the ids of the messages waiting in Redis on a queue."""
    client = redis.Redis.from_url(redis_url)

    def read(queue: str) -> list[int]:
        ids = client.lrange(f"{namespace}:{queue}", 0, -1)
        raw = [client.hget(f"{namespace}:{queue}.msgs", message_id) for message_id in ids]
        return [
            int(dramatiq.Message.decode(data).args[0]) for data in raw if isinstance(data, bytes)
        ]

    try:
        yield read
    finally:
        client.close()


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()
