"""Migrations apply to an empty database, are idempotent, refuse edits, and partition the log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import psycopg
import pytest

from adapters import migrate
from adapters.migrate import (
    FILE_NAME,
    MigrationError,
    apply_pending,
    ensure_partitions,
    load_migrations,
)


def test_migration_files_are_numbered_in_order_without_gaps():
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_every_packaged_file_follows_the_naming_rule():
    for migration in load_migrations():
        assert FILE_NAME.match(f"{migration.version:04d}_{migration.name}.sql")


def test_applying_twice_changes_nothing_the_second_time(fresh_database: Callable[[], str]):
    url = fresh_database()  # already migrated from the template
    with psycopg.connect(url, autocommit=True) as conn:
        assert apply_pending(conn) == []
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert count == (len(load_migrations()),)


def test_an_applied_migration_that_was_edited_stops_the_runner(
    fresh_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
):
    url = fresh_database()
    edited = [
        migrate.Migration(m.version, m.name, m.sql + "\n-- edited") if m.version == 1 else m
        for m in load_migrations()
    ]
    monkeypatch.setattr(migrate, "load_migrations", lambda: edited)
    with (
        psycopg.connect(url, autocommit=True) as conn,
        pytest.raises(MigrationError, match="edited"),
    ):
        apply_pending(conn)


def test_the_runner_needs_an_autocommit_connection(database_url: str):
    with psycopg.connect(database_url) as conn, pytest.raises(MigrationError, match="autocommit"):
        apply_pending(conn)


def test_partitions_exist_from_yesterday_to_a_week_ahead(db: psycopg.Connection):
    names = {
        row[0]
        for row in db.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'webhook_log'::regclass"
        )
    }
    today = dt.datetime.now(dt.UTC).date()
    for offset in range(-1, migrate.PARTITION_DAYS_AHEAD + 1):
        assert f"webhook_log_p{(today + dt.timedelta(days=offset)):%Y%m%d}" in names
    assert "webhook_log_default" in names


def test_rows_in_the_default_partition_move_when_their_day_is_created(
    fresh_database: Callable[[], str],
):
    url = fresh_database()
    far_day = dt.date(2031, 3, 14)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO webhook_log (received_at, sha256, body) VALUES (%s, %s, %s)",
            (dt.datetime(2031, 3, 14, 12, tzinfo=dt.UTC), b"\x01" * 32, b"{}"),
        )
        assert conn.execute("SELECT count(*) FROM webhook_log_default").fetchone() == (1,)
        created = ensure_partitions(conn, today=far_day, days=1)
        assert created >= 1
        assert conn.execute("SELECT count(*) FROM webhook_log_default").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM webhook_log_p20310314").fetchone() == (1,)
        # Running again creates nothing.
        assert ensure_partitions(conn, today=far_day, days=1) == 0
