"""The composition root: the only place that builds pools, clients and brokers.

``build_ingress_deps`` / ``build_worker_deps`` take the settings and optional overrides (tests
pass fakes or their own broker) and return plain containers; processes close them on exit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from adapters.postgres import AsyncConn, Conn, create_async_pool, create_pool
from adapters.queue import close_broker, create_broker
from adapters.rate_limits import RedisRateLimiter
from runtime.settings import Settings

INGRESS_POOL_SIZE = 8
INGRESS_POOL_TIMEOUT_S = 2.0
#: The API reads through a pool of its own, so API traffic can never take a connection the
#: webhook writers need (Meta's deliveries must keep committing whatever the SaaS asks).
API_POOL_SIZE = 4
API_POOL_TIMEOUT_S = 5.0


@dataclass
class IngressDeps:
    settings: Settings
    pool: AsyncConnectionPool[AsyncConn]
    api_pool: AsyncConnectionPool[AsyncConn]
    broker: dramatiq.Broker
    redis: aioredis.Redis | None
    limiter: RedisRateLimiter | None

    async def aclose(self) -> None:
        await self.pool.close()
        await self.api_pool.close()
        if self.redis is not None:
            await self.redis.aclose()
        close_broker(self.broker)


@dataclass
class WorkerDeps:
    settings: Settings
    pool: ConnectionPool[Conn]
    broker: dramatiq.Broker
    draw: Callable[[], float] = random.random  # jitter source; tests pass a constant

    def close(self) -> None:
        self.pool.close()


def build_broker(
    settings: Settings, middleware: list[dramatiq.Middleware] | None = None
) -> dramatiq.Broker:
    settings.require("BROKER_URL")
    return create_broker(
        str(settings.broker_url), namespace=settings.namespace, middleware=middleware
    )


def build_ingress_deps(settings: Settings, **overrides: Any) -> IngressDeps:
    settings.require("DATABASE_URL", "BROKER_URL", "APP_SECRET", "VERIFY_TOKEN")
    pool = overrides.pop("pool", None) or create_async_pool(
        str(settings.database_url),
        name="wapipe-ingress",
        max_size=INGRESS_POOL_SIZE,
        # The writers never outnumber the pool, so a wait this long means Postgres is gone:
        # answer 503 soon rather than hold Meta's connection.
        timeout=INGRESS_POOL_TIMEOUT_S,
    )
    api_pool = overrides.pop("api_pool", None) or create_async_pool(
        str(settings.database_url),
        name="wapipe-api",
        max_size=API_POOL_SIZE,
        timeout=API_POOL_TIMEOUT_S,
    )
    broker = overrides.pop("broker", None) or build_broker(settings)
    client = overrides.pop("redis", None)
    if client is None and settings.redis_url is not None:
        client = aioredis.Redis.from_url(
            str(settings.redis_url), socket_timeout=0.5, socket_connect_timeout=0.5
        )
    limiter = None
    if client is not None:
        limiter = RedisRateLimiter(
            client,
            namespace=settings.namespace,
            requests_per_minute=settings.rate_limit_per_ip,
            bad_signatures_per_minute=settings.bad_signature_limit_per_ip,
        )
    if overrides:
        raise TypeError(f"unknown overrides: {', '.join(sorted(overrides))}")
    return IngressDeps(
        settings=settings,
        pool=pool,
        api_pool=api_pool,
        broker=broker,
        redis=client,
        limiter=limiter,
    )


def build_worker_deps(settings: Settings, **overrides: Any) -> WorkerDeps:
    settings.require("DATABASE_URL", "BROKER_URL")
    pool = overrides.pop("pool", None) or create_pool(
        str(settings.database_url), name="wapipe-worker", max_size=16
    )
    broker = overrides.pop("broker", None) or build_broker(settings)
    return WorkerDeps(settings=settings, pool=pool, broker=broker, **overrides)


__all__ = ["IngressDeps", "WorkerDeps", "build_broker", "build_ingress_deps", "build_worker_deps"]
