"""Fixtures for the ingress integration tests: the running app and a Redis the test may kill."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from runtime.settings import Settings
from tests.integration.ingress.harness import LogWatch, running_ingress
from tests.processes import ThrowawayRedis
from tests.processes import throwaway_redis as throwaway_redis_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # psycopg's async pool and redis.asyncio run on asyncio


@pytest.fixture
def log(database_url: str) -> Iterator[LogWatch]:
    """The raw log as seen from a connection of the test's own."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield LogWatch(conn)


@pytest.fixture
async def ingress(
    make_settings: Callable[..., Settings], log: LogWatch
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the ingress on the test database and the test's Redis namespace."""
    async with running_ingress(make_settings()) as client:
        yield client


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    """A redis-server of this test's own, so the test may kill it; always stopped afterwards."""
    with throwaway_redis_server(tmp_path) as server:
        yield server
