"""What the API's endpoints work with, built once from the ingress's dependencies.

Reads that are plain queries use the async ``pool``; everything that goes through a service
function (``runtime.services``, shared with the CLI and the console) runs in a worker thread
on the small sync pool ``db`` (``ApiContext.run``). Both pools are the API's own: API traffic
never takes a connection the webhook writers need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import dramatiq
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from starlette.concurrency import run_in_threadpool

from adapters.onboarding_cache import OnboardingCache
from adapters.postgres import AsyncConn, Conn
from domain.graph import AsyncCodeExchange
from domain.token_crypto import TokenCipher
from ingress.api.errors import NotConfigured
from runtime.services.dead_letters import ReplayThrottle
from runtime.settings import Settings

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiContext:
    pool: AsyncConnectionPool[AsyncConn]
    #: The service functions' sync pool (autocommit); None only in tests that need none.
    db: ConnectionPool[Conn] | None = None
    #: Wakes the jobs a request inserts (best effort: the relay delivers them anyway).
    broker: dramatiq.Broker | None = None
    #: None without Redis: onboardings are then read from Postgres only.
    onboarding_cache: OnboardingCache | None = None
    #: None when ``META_APP_ID``/``APP_SECRET`` are not set: sessions answer 503.
    code_exchange: AsyncCodeExchange | None = None
    #: None when ``TOKEN_KEYS`` is not set: sessions answer 503 (a token is never stored
    #: unencrypted).
    cipher: TokenCipher | None = None
    settings: Settings = field(default_factory=Settings)
    replay_throttle: ReplayThrottle = field(default_factory=ReplayThrottle)
    clock: Callable[[], datetime] = utc_now

    async def run(self, work: Callable[[Conn], T]) -> T:
        """``work(conn)`` on a connection of the sync pool, in a worker thread.

        Raises:
            NotConfigured: this context has no sync pool.
        """
        db = self.db
        if db is None:
            raise NotConfigured("no database pool for service calls")

        def call() -> T:
            with db.connection() as conn:
                return work(conn)

        return await run_in_threadpool(call)
