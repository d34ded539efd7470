"""Postgres connections: pool factories and translation of driver errors at the edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool

from domain.errors import ConcurrencyConflict, DataRejected, DependencyUnavailable

Conn = psycopg.Connection[Any]
AsyncConn = psycopg.AsyncConnection[Any]

DEFAULT_CONNECT_TIMEOUT_S = 3
DEFAULT_STATEMENT_TIMEOUT_MS = 15_000
DEFAULT_POOL_TIMEOUT_S = 5.0


def connect_kwargs(*, application_name: str) -> dict[str, Any]:
    """Options every wapipe connection carries: short connect timeout, bounded statements."""
    return {
        "connect_timeout": DEFAULT_CONNECT_TIMEOUT_S,
        "application_name": application_name,
        "options": f"-c statement_timeout={DEFAULT_STATEMENT_TIMEOUT_MS}",
        # TCP keepalives notice a dead server on an idle pooled connection.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }


def create_pool(
    dsn: str,
    *,
    name: str,
    min_size: int = 1,
    max_size: int = 8,
    autocommit: bool = False,
    check_on_checkout: bool = True,
) -> psycopg_pool.ConnectionPool[Conn]:
    """A pool that opens lazily: a process starts even while Postgres is down.

    ``autocommit``: a lone statement is its own transaction (one round trip, no BEGIN and
    COMMIT); ``conn.transaction()`` still opens a real one. ``check_on_checkout`` tests each
    connection with a query before handing it out (a round trip); without it, a connection
    that died while idle fails its first statement, which callers translate into
    ``DependencyUnavailable`` and retry, and the pool discards it.
    """
    pool: psycopg_pool.ConnectionPool[Conn] = psycopg_pool.ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={**connect_kwargs(application_name=name), "autocommit": autocommit},
        timeout=DEFAULT_POOL_TIMEOUT_S,
        reconnect_timeout=0,  # keep retrying in the background forever
        check=psycopg_pool.ConnectionPool.check_connection if check_on_checkout else None,
        name=name,
        open=False,
    )
    pool.open(wait=False)
    return pool


def create_async_pool(
    dsn: str,
    *,
    name: str,
    min_size: int = 1,
    max_size: int = 8,
    timeout: float = DEFAULT_POOL_TIMEOUT_S,
) -> psycopg_pool.AsyncConnectionPool[AsyncConn]:
    """The ingress pool; opened by the app's lifespan (``await pool.open(wait=False)``).

    Autocommit: the ingress runs single statements, each atomic on its own, so a batch costs
    one round trip instead of BEGIN, statement, COMMIT. Connections are not checked on each
    checkout (another round trip); the caller retries once on a connection error instead.
    """
    return psycopg_pool.AsyncConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={**connect_kwargs(application_name=name), "autocommit": True},
        timeout=timeout,
        reconnect_timeout=0,
        name=name,
        open=False,
    )


def connect(dsn: str, *, name: str, autocommit: bool = False) -> Conn:
    """One plain connection (CLI commands, migrations).

    Raises:
        DependencyUnavailable: Postgres did not answer.
    """
    with translate_db_errors():
        return psycopg.connect(dsn, autocommit=autocommit, **connect_kwargs(application_name=name))


def is_connection_error(error: BaseException) -> bool:
    """True for failures of the connection itself rather than of the statement."""
    return isinstance(
        error,
        psycopg.OperationalError | psycopg.InterfaceError | psycopg_pool.PoolTimeout,
    ) and not isinstance(error, psycopg.errors.QueryCanceled)


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn connection-level driver errors into ``DependencyUnavailable``.

    Statement errors (constraint violations, syntax) pass through unchanged: they are bugs
    or conflicts the caller handles, not an outage.
    """
    try:
        yield
    except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
        if is_connection_error(error) or isinstance(error, psycopg.errors.QueryCanceled):
            raise DependencyUnavailable(f"postgres: {type(error).__name__}") from error
        raise


#: Statement failures that pass when tried again later.
_TRANSIENT_STATEMENT_ERRORS = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.LockNotAvailable,
    psycopg.errors.QueryCanceled,
)


@contextmanager
def classify_db_errors() -> Iterator[None]:
    """Translate what Postgres says about a handler's writes into the error tree, by type.

    Connection loss → ``DependencyUnavailable``; deadlocks, serialization failures, lock and
    statement timeouts → ``ConcurrencyConflict`` (both retried); a ``DataError`` or an
    integrity violation our idempotent writes cannot explain → ``DataRejected`` (dead-lettered
    at once). Anything else (a programming error) passes through unchanged.
    """
    try:
        yield
    except psycopg.Error as error:
        detail = f"postgres: {type(error).__name__}"
        # Checked first: these are OperationalErrors too, but of the statement, not the link.
        if isinstance(error, _TRANSIENT_STATEMENT_ERRORS):
            raise ConcurrencyConflict(detail) from error
        if is_connection_error(error):
            raise DependencyUnavailable(detail) from error
        if isinstance(error, psycopg.DataError | psycopg.IntegrityError):
            diag = error.diag.message_primary or ""
            raise DataRejected(f"{detail}: {diag}"[:500]) from error
        raise
