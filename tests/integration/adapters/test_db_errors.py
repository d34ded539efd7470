"""Postgres failures classified by type at the edge (SPEC §6): real errors from a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from adapters.postgres import classify_db_errors
from domain.errors import (
    ConcurrencyConflict,
    DataRejected,
    DependencyUnavailable,
    PermanentError,
    TransientError,
)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS classify_probe (id int PRIMARY KEY)")
        connection.execute("TRUNCATE classify_probe")
        connection.execute("INSERT INTO classify_probe VALUES (1)")
        yield connection


@pytest.mark.parametrize(
    "statement",
    ["SELECT 1 / 0", "SELECT 'not a number'::int", "SELECT 70000::smallint"],
)
def test_a_data_error_is_permanent(conn: psycopg.Connection[Any], statement: str):
    with pytest.raises(DataRejected) as caught, classify_db_errors():
        conn.execute(statement)

    assert isinstance(caught.value, PermanentError)
    assert caught.value.reason == "data_error"


def test_text_holding_nul_is_a_data_error(conn: psycopg.Connection[Any]):
    with pytest.raises(DataRejected), classify_db_errors():
        conn.execute("SELECT %s::text", ("a\x00b",))


def test_an_unexplained_constraint_violation_is_permanent(conn: psycopg.Connection[Any]):
    with pytest.raises(DataRejected), classify_db_errors():
        conn.execute("INSERT INTO classify_probe VALUES (1)")


def test_a_statement_timeout_is_transient(conn: psycopg.Connection[Any]):
    conn.execute("SET statement_timeout = '50ms'")

    with pytest.raises(ConcurrencyConflict) as caught, classify_db_errors():
        conn.execute("SELECT pg_sleep(2)")

    assert isinstance(caught.value, TransientError)


def test_a_lock_timeout_is_transient(conn: psycopg.Connection[Any], database_url: str):
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT * FROM classify_probe WHERE id = 1 FOR UPDATE")
        conn.execute("SET lock_timeout = '50ms'")

        with pytest.raises(ConcurrencyConflict), classify_db_errors():
            conn.execute("UPDATE classify_probe SET id = 1 WHERE id = 1")


def test_a_serialization_failure_is_transient(database_url: str):
    with psycopg.connect(database_url) as first, psycopg.connect(database_url) as second:
        for session in (first, second):
            session.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            session.execute("SELECT * FROM classify_probe")
        first.execute("UPDATE classify_probe SET id = 2 WHERE id = 1")
        done = threading.Event()
        outcome: list[BaseException] = []

        def update_second() -> None:
            try:
                with classify_db_errors():
                    second.execute("UPDATE classify_probe SET id = 3 WHERE id = 1")
            except BaseException as error:
                outcome.append(error)
            finally:
                done.set()

        thread = threading.Thread(target=update_second)
        thread.start()
        first.commit()  # the second's row changed under its snapshot: it must fail
        assert done.wait(10)
        thread.join()

    assert len(outcome) == 1
    assert isinstance(outcome[0], ConcurrencyConflict)


def test_a_lost_connection_is_a_dependency_outage(database_url: str):
    with psycopg.connect(database_url, autocommit=True) as victim:
        with psycopg.connect(database_url, autocommit=True) as killer:
            pid = victim.info.backend_pid
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))

        with pytest.raises(DependencyUnavailable), classify_db_errors():
            victim.execute("SELECT 1")


def test_a_programming_error_passes_through_unclassified(conn: psycopg.Connection[Any]):
    with pytest.raises(psycopg.errors.UndefinedTable), classify_db_errors():
        conn.execute("SELECT * FROM no_such_table_anywhere")
