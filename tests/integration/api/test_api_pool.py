"""The API reads through a pool of its own: API traffic never starves the webhook writers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from adapters.postgres import create_async_pool
from runtime.bootstrap import build_ingress_deps
from runtime.settings import Settings
from tests.builders import text_message, wire_bytes
from tests.integration.api.rows import bearer, org_key
from tests.integration.ingress.harness import post_signed, running_ingress

pytestmark = pytest.mark.anyio

API_POOL_SIZE = 2


async def test_webhooks_are_accepted_while_every_api_connection_is_busy(
    make_settings: Callable[..., Settings], db: psycopg.Connection[Any]
):
    settings = make_settings()
    key = org_key(db, "acme")
    api_pool = create_async_pool(
        str(settings.database_url), name="wapipe-api-test", max_size=API_POOL_SIZE, timeout=0.3
    )
    async with running_ingress(settings, api_pool=api_pool) as client:
        await api_pool.wait(timeout=10)
        held = [await api_pool.getconn() for _ in range(API_POOL_SIZE)]
        try:
            webhook = await post_signed(client, wire_bytes(text_message()))
            api = await client.get("/api/v1/organizations/acme/connections", headers=bearer(key))
        finally:
            for conn in held:
                await api_pool.putconn(conn)

    assert (webhook.status_code, webhook.json()) == (200, {"status": "accepted"})
    assert api.status_code == 503
    assert api.json()["error"] == "unavailable"
    assert api.headers["retry-after"]


async def test_the_api_pool_is_small_and_not_the_ingest_pool(
    make_settings: Callable[..., Settings],
):
    deps = build_ingress_deps(make_settings())
    try:
        assert deps.api_pool is not deps.pool
        assert deps.api_pool.max_size == 4
        assert deps.api_pool.max_size < deps.pool.max_size
    finally:
        await deps.aclose()
