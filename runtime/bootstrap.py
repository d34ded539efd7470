"""The composition root: the only place that builds pools, clients and brokers.

``build_ingress_deps`` / ``build_worker_deps`` take the settings and optional overrides (tests
pass fakes or their own broker) and return plain containers; processes close them on exit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import dramatiq
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from adapters.postgres import AsyncConn, Conn, connect_kwargs, create_async_pool, create_pool
from adapters.queue import close_broker, create_broker
from adapters.rate_limits import RedisRateLimiter
from domain.graph import AsyncCodeExchange, GraphApi
from domain.ports import Clock
from domain.token_crypto import TokenCipher
from runtime.settings import Settings

if TYPE_CHECKING:
    import httpx

    from adapters.graph_api import AsyncHttpCodeExchange, GraphObserver, HttpGraphApi

INGRESS_POOL_SIZE = 8
INGRESS_POOL_TIMEOUT_S = 2.0
#: The API reads through a pool of its own, so API traffic can never take a connection the
#: webhook writers need (Meta's deliveries must keep committing whatever the SaaS asks).
API_POOL_SIZE = 4
API_POOL_TIMEOUT_S = 5.0
#: The API's service functions (onboardings, admin) are synchronous and run in worker
#: threads, on a small sync pool that is neither of the above.
SERVICE_POOL_SIZE = 4
SERVICE_POOL_TIMEOUT_S = 5.0


@dataclass
class IngressDeps:
    settings: Settings
    pool: AsyncConnectionPool[AsyncConn]
    api_pool: AsyncConnectionPool[AsyncConn]
    broker: dramatiq.Broker
    redis: aioredis.Redis | None
    limiter: RedisRateLimiter | None
    #: The API's sync pool (autocommit) for ``runtime.services``; opened by the lifespan.
    service_pool: ConnectionPool[Conn] | None = None
    #: None when ``META_APP_ID``/``APP_SECRET`` are not set: onboarding sessions answer 503.
    code_exchange: AsyncCodeExchange | None = None
    #: None when ``TOKEN_KEYS`` is not set: onboarding sessions answer 503.
    cipher: TokenCipher | None = None

    async def aclose(self) -> None:
        await self.pool.close()
        await self.api_pool.close()
        if self.service_pool is not None:
            await anyio.to_thread.run_sync(self.service_pool.close)
        close_exchange = getattr(self.code_exchange, "aclose", None)
        if callable(close_exchange):
            await close_exchange()
        if self.redis is not None:
            await self.redis.aclose()
        close_broker(self.broker)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class WorkerDeps:
    settings: Settings
    pool: ConnectionPool[Conn]
    broker: dramatiq.Broker
    draw: Callable[[], float] = random.random  # jitter source; tests pass a constant
    #: None when ``META_APP_ID``/``APP_SECRET`` are not set: Graph jobs then dead-letter.
    graph: GraphApi | None = None
    #: None when ``TOKEN_KEYS`` is not set: jobs that need a token then dead-letter.
    cipher: TokenCipher | None = None
    clock: Clock = field(default_factory=SystemClock)

    def close(self) -> None:
        self.pool.close()
        close = getattr(self.graph, "close", None)
        if callable(close):
            close()


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
    service_pool = overrides.pop("service_pool", None) or build_service_pool(settings)
    broker = overrides.pop("broker", None) or build_broker(settings)
    if "code_exchange" in overrides:
        code_exchange = overrides.pop("code_exchange")
    else:
        code_exchange = (
            build_async_code_exchange(settings)
            if settings.meta_app_id and settings.app_secrets
            else None
        )
    cipher = overrides.pop("cipher") if "cipher" in overrides else build_token_cipher(settings)
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
        service_pool=service_pool,
        code_exchange=code_exchange,
        cipher=cipher,
    )


def build_service_pool(settings: Settings) -> ConnectionPool[Conn]:
    """The API's sync pool for the service functions: autocommit (each service opens its own
    transactions), closed until the ingress's lifespan opens it."""
    settings.require("DATABASE_URL")
    return ConnectionPool(
        str(settings.database_url),
        min_size=1,
        max_size=SERVICE_POOL_SIZE,
        kwargs={**connect_kwargs(application_name="wapipe-api-services"), "autocommit": True},
        timeout=SERVICE_POOL_TIMEOUT_S,
        reconnect_timeout=0,  # keep retrying in the background forever
        check=ConnectionPool.check_connection,
        name="wapipe-api-services",
        open=False,
    )


def build_token_cipher(settings: Settings) -> TokenCipher | None:
    """The cipher of ``TOKEN_KEYS`` (the first key encrypts), or None when none is set."""
    if not settings.token_keys:
        return None
    return TokenCipher([(key.kid, key.material()) for key in settings.token_keys])


def build_worker_deps(settings: Settings, **overrides: Any) -> WorkerDeps:
    settings.require("DATABASE_URL", "BROKER_URL")
    # Autocommit, no probe on checkout: the common claim is one statement, one round trip;
    # every multi-statement step opens its own transaction (workers.processing).
    pool = overrides.pop("pool", None) or create_pool(
        str(settings.database_url),
        name="wapipe-worker",
        max_size=16,
        autocommit=True,
        check_on_checkout=False,
    )
    broker = overrides.pop("broker", None) or build_broker(settings)
    if "cipher" not in overrides:
        overrides["cipher"] = build_token_cipher(settings)
    if "graph" not in overrides and settings.meta_app_id and settings.app_secrets:
        overrides["graph"] = build_graph_api(settings)
    return WorkerDeps(settings=settings, pool=pool, broker=broker, **overrides)


# --- Graph API clients (SPEC §7, §9). Imports are late so the ingress never creates the
# worker's metrics and vice versa (runtime.metrics: one module per process kind).


def observe_worker_graph_request(operation: str, outcome: str, seconds: float) -> None:
    """Count one Graph request in the worker's registry (``wapipe_graph_*``)."""
    from runtime.metrics import worker

    worker.observe_graph_request(operation, outcome, seconds)


def observe_ingress_graph_request(operation: str, outcome: str, seconds: float) -> None:
    """Count one Graph request (the code exchange) in the ingress's registry."""
    from runtime.metrics import ingress

    ingress.observe_graph_request(operation, outcome, seconds)


def _graph_credentials(settings: Settings) -> tuple[str, str]:
    settings.require("META_APP_ID", "APP_SECRET")
    assert settings.meta_app_id is not None  # checked by require
    # APP_SECRET may list several secrets for rotation; the first is the app's current one
    # (the others only verify signatures of webhooks Meta signed before the switch).
    return settings.meta_app_id, str(settings.app_secrets[0])


def build_graph_api(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    observe: GraphObserver = observe_worker_graph_request,
) -> HttpGraphApi:
    """The synchronous ``GraphApi`` of workers and the CLI; the caller closes it.

    ``transport`` replaces the network (tests: ``httpx.MockTransport``); ``observe`` gets
    ``(operation, outcome, seconds)`` per request (default: the worker's Prometheus metrics).

    Raises:
        SettingsError: ``WAPIPE_META_APP_ID`` or ``WAPIPE_APP_SECRET`` is not set.
    """
    from adapters.graph_api import HttpGraphApi

    app_id, app_secret = _graph_credentials(settings)
    return HttpGraphApi(
        base_url=settings.graph_base_url,
        version=settings.graph_api_version,
        app_id=app_id,
        app_secret=app_secret,
        transport=transport,
        observe=observe,
    )


def build_async_code_exchange(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    observe: GraphObserver = observe_ingress_graph_request,
) -> AsyncHttpCodeExchange:
    """The ingress's ``AsyncCodeExchange`` (5 s overall budget); the caller ``aclose()``s it.

    ``observe`` defaults to the ingress's Prometheus metrics.

    Raises:
        SettingsError: ``WAPIPE_META_APP_ID`` or ``WAPIPE_APP_SECRET`` is not set.
    """
    from adapters.graph_api import AsyncHttpCodeExchange

    app_id, app_secret = _graph_credentials(settings)
    return AsyncHttpCodeExchange(
        base_url=settings.graph_base_url,
        version=settings.graph_api_version,
        app_id=app_id,
        app_secret=app_secret,
        transport=transport,
        observe=observe,
    )


__all__ = [
    "IngressDeps",
    "SystemClock",
    "WorkerDeps",
    "build_async_code_exchange",
    "build_broker",
    "build_graph_api",
    "build_ingress_deps",
    "build_service_pool",
    "build_token_cipher",
    "build_worker_deps",
    "observe_ingress_graph_request",
    "observe_worker_graph_request",
]
