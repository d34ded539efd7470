"""Apply the numbered SQL files of ``adapters/migrations`` once each, in order.

Forward-only: a file is never edited once merged, and the runner refuses to continue when
an applied file's checksum changed. Concurrent runners (several replicas starting at once)
serialise on an advisory lock; the second finds nothing left to do.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from importlib import resources

import psycopg

from adapters.postgres import Conn
from domain.errors import PermanentError

MIGRATION_LOCK_KEY = 0x7761_7069_7065  # "wapipe": one key for the whole schema
PARTITION_DAYS_AHEAD = 7
FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(PermanentError):
    """A migration file is malformed, edited after it was applied, or failed."""

    reason = "migration"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The packaged migrations, ordered by version.

    Raises:
        MigrationError: a file name does not follow ``NNNN_name.sql`` or a version repeats.
    """
    found: dict[int, Migration] = {}
    for item in resources.files("adapters.migrations").iterdir():
        if not item.name.endswith(".sql"):
            continue
        match = FILE_NAME.match(item.name)
        if not match:
            raise MigrationError(f"migration file name must be NNNN_snake_name.sql: {item.name}")
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"two migrations share version {version:04d}")
        found[version] = Migration(version, match["name"], item.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def apply_pending(conn: Conn, *, today: date | None = None) -> list[str]:
    """Apply what is not applied yet and create the log partitions ahead; return names applied.

    ``conn`` must be in autocommit mode: each migration runs in its own transaction.

    Raises:
        MigrationError: an applied migration was edited, or one failed (rolled back).
    """
    if not conn.autocommit:
        raise MigrationError("apply_pending needs an autocommit connection")
    conn.execute("SET lock_timeout = '30s'")
    conn.execute("SET statement_timeout = '10min'")
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        conn.execute(_CREATE_LEDGER)
        applied: dict[int, str] = dict(
            conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        )
        done: list[str] = []
        for migration in load_migrations():
            label = f"{migration.version:04d}_{migration.name}"
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(f"migration {label} was edited after it was applied")
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
            except psycopg.Error as error:
                raise MigrationError(f"migration {label} failed: {error}") from error
            done.append(label)
        ensure_partitions(conn, today=today)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute("RESET lock_timeout")
        conn.execute("RESET statement_timeout")


def ensure_partitions(
    conn: Conn, *, today: date | None = None, days: int = PARTITION_DAYS_AHEAD
) -> int:
    """Create the daily ``webhook_log`` partitions from yesterday to ``days`` ahead.

    Yesterday is included so a clock skew around midnight never lands rows in the default.
    """
    start = "(%s::date - 1)" if today else "((now() AT TIME ZONE 'UTC')::date - 1)"
    params: tuple[object, ...] = (today, days + 2) if today else (days + 2,)
    row = conn.execute(
        f"SELECT wapipe_ensure_webhook_log_partitions({start}, %s)", params
    ).fetchone()
    if not conn.autocommit:
        conn.commit()
    return int(row[0]) if row else 0
