"""The machine's Postgres and Redis as the benchmark uses them: a database and a key
namespace of its own per scenario, removed afterwards. Nothing here reconfigures a server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import psycopg
import redis

from bench.procs import REPO_ROOT, child_environ, python_argv

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
APP_SECRET = "bench_app_secret_3c9d0f7a"  # noqa: S105 - a throwaway database's secret
VERIFY_TOKEN = "bench-verify-token"  # noqa: S105 - likewise
MIGRATE_TIMEOUT_S = 120.0


def server_url() -> str:
    return os.environ.get("WAPIPE_BENCH_DATABASE_URL", DEFAULT_SERVER_URL)


def redis_url() -> str:
    return os.environ.get("WAPIPE_BENCH_REDIS_URL", DEFAULT_REDIS_URL)


def database_url(server: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(server, dbname=name)


def wapipe_environ(
    database: str, redis_location: str, namespace: str, **extra: str
) -> dict[str, str]:
    """The ``WAPIPE_*`` settings of every wapipe process and variant of a scenario."""
    return {
        "WAPIPE_DATABASE_URL": database,
        "WAPIPE_REDIS_URL": redis_location,
        "WAPIPE_NAMESPACE": namespace,
        "WAPIPE_APP_SECRET": APP_SECRET,
        "WAPIPE_VERIFY_TOKEN": VERIFY_TOKEN,
        "WAPIPE_HOST": "127.0.0.1",
        "WAPIPE_LOG_FORMAT": "json",
        "WAPIPE_LOG_LEVEL": "WARNING",
        **{f"WAPIPE_{key}": value for key, value in extra.items()},
    }


def unique_name(label: str) -> str:
    return f"wapipe_bench_{label}_{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def bench_database(label: str, log_dir: Path) -> Iterator[str]:
    """A new database migrated by ``wapipe migrate``; dropped on the way out."""
    server = server_url()
    name = unique_name(label)
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(server, name)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"migrate-{label}.log").open("ab") as log:
            subprocess.run(
                python_argv("-m", "cli.main", "migrate"),
                env=child_environ({"WAPIPE_DATABASE_URL": url}),
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=MIGRATE_TIMEOUT_S,
                check=True,
            )
        yield url
    finally:
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def bench_namespace(label: str) -> Iterator[str]:
    """A Redis key namespace of this scenario; its keys are deleted on the way out."""
    name = f"wapipe-bench-{label}-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        clear_namespace(redis_url(), name)


def clear_namespace(location: str, namespace: str) -> int:
    client = redis.Redis.from_url(location, socket_timeout=10)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(client.unlink(*batch))
    finally:
        client.close()
    return deleted


def backend_pids(database: str) -> list[int]:
    """The Postgres server processes serving ``database`` now (their CPU is the ingest's)."""
    name = psycopg.conninfo.conninfo_to_dict(database)["dbname"]
    with psycopg.connect(server_url(), autocommit=True, connect_timeout=5) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return [int(row[0]) for row in rows]


def redis_server_pid(location: str) -> int | None:
    client = redis.Redis.from_url(location, socket_timeout=5)
    try:
        info: Mapping[str, object] = client.info("server")
    finally:
        client.close()
    pid = info.get("process_id")
    return int(str(pid)) if pid is not None else None


def sql_rows(
    database: str, query: str, params: tuple[object, ...] = ()
) -> list[tuple[object, ...]]:
    with psycopg.connect(database, autocommit=True, connect_timeout=5) as conn:
        return [tuple(row) for row in conn.execute(query.encode(), params).fetchall()]
