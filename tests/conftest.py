"""Shared fixtures: real Postgres and Redis (the machine's, else embedded), settings, ids.

Postgres: ``WAPIPE_TEST_DATABASE_URL`` (default the machine's server) gets a fresh database
per test session, migrated once and used as a template for tests that want their own.
Redis: ``WAPIPE_TEST_REDIS_URL`` (default db 15 of the machine's server); tests share it and
keep apart by a unique key namespace each.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from adapters.migrate import apply_pending
from runtime.settings import Settings
from tests.builders import APP_SECRET

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
TABLES = (
    "webhook_log", "webhook_digest", "event", "dead_letter", "connection", "onboarding",
    "phone_number", "customer", "message", "message_status", "account_history",
    "account_state", "business_contact", "history_chunk", "api_key", "audit_log",
    "business_token", "webhook_archive",
)  # fmt: skip


def _with_database(url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Postgres server to create test databases on."""
    url = os.environ.get("WAPIPE_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    if _answers(url):
        yield url
        return
    from runtime.embedded import start_embedded

    engines = start_embedded(tmp_path_factory.mktemp("embedded"), postgres=True, redis=False)
    assert engines.database_url
    try:
        yield engines.database_url
    finally:
        engines.stop()


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """The name of a migrated database that per-test databases are copied from."""
    name = f"wapipe_test_tmpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(_with_database(pg_server_url, name), autocommit=True) as conn:
            apply_pending(conn)
        yield name
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def fresh_database(pg_server_url: str, template_database: str) -> Iterator[Callable[[], str]]:
    """Factory: a new, migrated, empty database; every one is dropped at session end."""
    created: list[str] = []

    def create() -> str:
        name = f"wapipe_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        created.append(name)
        return _with_database(pg_server_url, name)

    yield create
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        for name in created:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(fresh_database: Callable[[], str]) -> str:
    """The session's shared test database (tables are emptied before each test using ``db``)."""
    return fresh_database()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the shared test database, emptied first."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        yield conn


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("WAPIPE_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError):
        from runtime.embedded import start_embedded

        engines = start_embedded(tmp_path_factory.mktemp("redis"), postgres=False, redis=True)
        assert engines.redis_url
        try:
            yield engines.redis_url
        finally:
            engines.stop()
        return
    yield url


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A Redis key namespace of this test's own; its keys are deleted afterwards."""
    name = f"wapipe-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{name}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(database_url: str, redis_url: str, namespace: str) -> SettingsFactory:
    """Settings for the test's database/Redis; keyword overrides use variable names without
    the prefix: ``make_settings(MAX_ATTEMPTS="3")``."""

    def build(**overrides: str) -> Settings:
        return Settings.from_environ(
            settings_environ(database_url, redis_url, namespace, **overrides)
        )

    return build


def settings_environ(
    database_url: str, redis_url: str, namespace: str, **overrides: str
) -> dict[str, str]:
    environ = {
        "WAPIPE_DATABASE_URL": database_url,
        "WAPIPE_REDIS_URL": redis_url,
        "WAPIPE_NAMESPACE": namespace,
        "WAPIPE_APP_SECRET": APP_SECRET,
        "WAPIPE_VERIFY_TOKEN": "verify-token-for-tests",
        "WAPIPE_ENV": "development",
        "WAPIPE_LOG_FORMAT": "console",
        "WAPIPE_MIN_BACKOFF_MS": "10",
        "WAPIPE_MAX_BACKOFF_MS": "100",
    }
    environ.update({f"WAPIPE_{key}": value for key, value in overrides.items()})
    return environ


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
