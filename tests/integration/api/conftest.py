"""The API as the ingress serves it: the real app with its lifespan, on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import psycopg
import pytest

from runtime.settings import Settings
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
