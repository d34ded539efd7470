"""Log retention on the real Postgres: whole partitions go, dead-lettered webhooks stay readable.

Each test gets its own database: retention drops every expired partition it finds, and the
tests create partitions for days long past.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from adapters import retention
from adapters.dead_letters import ReplayStatus, load_detail, replay_dead_letter
from adapters.retention import (
    LogPartition,
    drop_expired_partitions,
    list_log_partitions,
    prune_archive,
)

RETENTION_DAYS = 30
_bodies = itertools.count()


@pytest.fixture
def conn(fresh_database: Callable[[], str]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fresh_database(), autocommit=True) as connection:
        yield connection


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def create_partition(conn: psycopg.Connection[Any], day: dt.date) -> str:
    conn.execute("SELECT wapipe_ensure_webhook_log_partitions(%s, 1)", (day,))
    return f"webhook_log_p{day:%Y%m%d}"


def partition_names(conn: psycopg.Connection[Any]) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'webhook_log'::regclass"
        )
    }


def add_webhook(
    conn: psycopg.Connection[Any],
    received_at: dt.datetime,
    *,
    status: str = "processed",
    event_status: str | None = "processed",
) -> tuple[int, int | None, bytes]:
    """A logged webhook with its digest and (unless ``event_status`` is None) one event:
    (webhook id, event id, body)."""
    body = b'{"object": "whatsapp_business_account", "n": %d}' % next(_bodies)
    digest = hashlib.sha256(body).digest()
    open_events = int(event_status in ("pending", "processing", "retrying"))
    row = conn.execute(
        "INSERT INTO webhook_log (received_at, sha256, body, status, events_total, events_open,"
        " events_dead, source_ip, headers)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, '203.0.113.7', '{\"user-agent\": \"meta\"}')"
        " RETURNING id",
        (
            received_at,
            digest,
            body,
            status,
            int(event_status is not None),
            open_events,
            int(event_status == "dead"),
        ),
    ).fetchone()
    assert row is not None
    webhook_id = int(row[0])
    conn.execute(
        "INSERT INTO webhook_digest (sha256, webhook_id, received_at) VALUES (%s, %s, %s)",
        (digest, webhook_id, received_at),
    )
    event_id = None
    if event_status is not None:
        event = conn.execute(
            "INSERT INTO event (webhook_id, webhook_received_at, entry_index, change_index,"
            " entry_id, field, value, status) VALUES (%s, %s, 0, 0, 'waba-1', 'messages',"
            " '{}', %s) RETURNING id",
            (webhook_id, received_at, event_status),
        ).fetchone()
        assert event is not None
        event_id = int(event[0])
    return webhook_id, event_id, body


def add_dead_letter(
    conn: psycopg.Connection[Any],
    webhook_id: int,
    received_at: dt.datetime,
    event_id: int | None,
    *,
    replayed: bool = False,
) -> int:
    row = conn.execute(
        "INSERT INTO dead_letter (webhook_id, webhook_received_at, event_id, field, reason,"
        " error, attempts, replayed_at) VALUES (%s, %s, %s, %s, 'invalid_change', 'boom', 3,"
        " CASE WHEN %s THEN now() END) RETURNING id",
        (webhook_id, received_at, event_id, None if event_id is None else "messages", replayed),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_bulk(conn: psycopg.Connection[Any], day: dt.date, count: int) -> None:
    """``count`` processed webhooks of ~2 KB spread over ``day``, each with a digest and an
    event, as ingest and the workers leave them."""
    conn.execute(
        """
        WITH w AS (
            INSERT INTO webhook_log (received_at, sha256, body, status, events_total,
                                     finished_at, source_ip, headers)
            SELECT %(start)s + make_interval(secs => g * 86000.0 / %(count)s),
                   sha256(convert_to('bulk-' || g, 'UTF8')),
                   convert_to('{"bulk": ' || g || ', "pad": "' || repeat('x', 2000) || '"}',
                              'UTF8'),
                   'processed', 1, now(), '203.0.113.9', '{}'
              FROM generate_series(1, %(count)s) g
            RETURNING id, received_at, sha256
        ), digests AS (
            INSERT INTO webhook_digest (sha256, webhook_id, received_at)
            SELECT sha256, id, received_at FROM w
        )
        INSERT INTO event (webhook_id, webhook_received_at, entry_index, change_index,
                           entry_id, field, value, status, finished_at)
        SELECT id, received_at, 0, 0, 'waba-1', 'messages', '{"messages": []}', 'processed',
               now()
          FROM w
        """,
        {"start": dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC), "count": count},
    )


def to_regclass(conn: psycopg.Connection[Any], name: str) -> Any:
    row = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
    assert row is not None
    return row[0]


def count(conn: psycopg.Connection[Any], query: str, *params: object) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


# --- which partitions are expired -------------------------------------------------------------


def test_a_day_expires_once_it_ended_more_than_the_retention_ago():
    now = dt.datetime(2026, 3, 31, 9, 30, tzinfo=dt.UTC)
    feb_28 = LogPartition("webhook_log_p20260228", dt.date(2026, 2, 28))  # ended 30 d 9.5 h ago
    mar_1 = LogPartition("webhook_log_p20260301", dt.date(2026, 3, 1))  # ended 29 d 9.5 h ago
    assert feb_28.is_expired(now=now, retention_days=30)
    assert not mar_1.is_expired(now=now, retention_days=30)
    at_the_boundary = dt.datetime(2026, 3, 31, tzinfo=dt.UTC)  # Feb 28 ended exactly 30 d ago
    assert feb_28.is_expired(now=at_the_boundary, retention_days=30)
    assert not feb_28.is_expired(now=at_the_boundary - dt.timedelta(seconds=1), retention_days=30)


def test_today_and_future_days_never_expire_whatever_the_retention():
    now = dt.datetime(2026, 3, 31, 23, 59, tzinfo=dt.UTC)
    for day in (dt.date(2026, 3, 31), dt.date(2026, 4, 1)):
        assert not LogPartition("p", day).is_expired(now=now, retention_days=1)
    assert LogPartition("p", dt.date(2026, 3, 29)).is_expired(now=now, retention_days=1)


def test_the_default_partition_is_never_listed(conn: psycopg.Connection[Any]):
    names = [partition.name for partition in list_log_partitions(conn)]
    assert names
    assert "webhook_log_default" not in names
    assert names == sorted(names)


# --- dropping -----------------------------------------------------------------------------------


def test_an_expired_partition_is_dropped_and_its_dead_lettered_webhooks_are_archived(
    conn: psycopg.Connection[Any],
):
    old_day = today() - dt.timedelta(days=40)
    kept_day = today() - dt.timedelta(days=10)
    old = create_partition(conn, old_day)
    kept = create_partition(conn, kept_day)
    at = noon(old_day)
    # Given, in the old partition: a processed webhook, a webhook whose event died, one that
    # could not be split, and one whose dead letter was replayed and then processed.
    processed, processed_event, _ = add_webhook(conn, at)
    dead, dead_event, dead_body = add_webhook(conn, at, status="dead", event_status="dead")
    dead_letter = add_dead_letter(conn, dead, at, dead_event)
    unsplit, _, unsplit_body = add_webhook(conn, at, status="dead", event_status=None)
    unsplit_letter = add_dead_letter(conn, unsplit, at, None)
    replayed, replayed_event, _ = add_webhook(conn, at)
    add_dead_letter(conn, replayed, at, replayed_event, replayed=True)
    # … a younger webhook within retention, and an old one that fell into the default.
    younger, younger_event, _ = add_webhook(conn, noon(kept_day))
    stray_at = noon(today() - dt.timedelta(days=50))
    stray, _, _ = add_webhook(conn, stray_at, event_status=None)
    assert count(conn, "SELECT count(*) FROM webhook_log_default") == 1

    report = drop_expired_partitions(conn, retention_days=RETENTION_DAYS)

    assert [drop.partition for drop in report.dropped] == [old]
    assert report.dropped[0].archived == 3
    assert report.dropped[0].digests == 4
    assert report.dropped[0].events == 1  # the processed webhook's; kept webhooks keep theirs
    assert report.busy is None
    assert report.kept_open == {}
    names = partition_names(conn)
    assert old not in names
    assert to_regclass(conn, old) is None  # dropped, not only detached
    assert {kept, "webhook_log_default", f"webhook_log_p{today():%Y%m%d}"} <= names
    # The archive holds exactly the webhooks a dead letter names, body and all.
    archived = conn.execute(
        "SELECT id, body, status, host(source_ip), headers FROM webhook_archive ORDER BY id"
    ).fetchall()
    assert [row[0] for row in archived] == sorted([dead, unsplit, replayed])
    assert bytes(archived[0][1]) == dead_body
    assert archived[0][2] == "dead"
    assert archived[0][3] == "203.0.113.7"
    assert archived[0][4] == {"user-agent": "meta"}
    # Their events stay; the processed webhook's went with its digest; younger rows are intact.
    remaining = {row[0] for row in conn.execute("SELECT id FROM event")}
    assert remaining == {dead_event, replayed_event, younger_event}
    assert processed_event not in remaining
    assert count(conn, "SELECT count(*) FROM webhook_digest WHERE received_at = %s", at) == 0
    assert count(conn, "SELECT count(*) FROM webhook_log WHERE id IN (%s, %s)", younger, stray) == 2
    assert count(conn, "SELECT count(*) FROM webhook_log WHERE id = %s", processed) == 0
    # And every dead letter still shows its raw payload.
    detail = load_detail(conn, dead_letter)
    assert detail is not None
    assert detail.body == dead_body
    unsplit_detail = load_detail(conn, unsplit_letter)
    assert unsplit_detail is not None
    assert unsplit_detail.body == unsplit_body


def test_retention_run_twice_drops_nothing_more(conn: psycopg.Connection[Any]):
    old_day = today() - dt.timedelta(days=40)
    create_partition(conn, old_day)
    webhook, event, _ = add_webhook(conn, noon(old_day), status="dead", event_status="dead")
    add_dead_letter(conn, webhook, noon(old_day), event)
    before = partition_names(conn)

    first = drop_expired_partitions(conn, retention_days=RETENTION_DAYS)
    second = drop_expired_partitions(conn, retention_days=RETENTION_DAYS)

    assert len(first.dropped) == 1
    assert second.dropped == []
    assert partition_names(conn) == before - {first.dropped[0].partition}
    assert count(conn, "SELECT count(*) FROM webhook_archive") == 1


def test_an_archived_webhooks_dead_letters_answer_not_replayable_with_a_clear_detail(
    conn: psycopg.Connection[Any],
):
    old_day = today() - dt.timedelta(days=40)
    create_partition(conn, old_day)
    at = noon(old_day)
    dead, dead_event, _ = add_webhook(conn, at, status="dead", event_status="dead")
    event_letter = add_dead_letter(conn, dead, at, dead_event)
    unsplit, _, _ = add_webhook(conn, at, status="dead", event_status=None)
    webhook_letter = add_dead_letter(conn, unsplit, at, None)
    drop_expired_partitions(conn, retention_days=RETENTION_DAYS)

    event_replay = replay_dead_letter(conn, event_letter, lease_seconds=30)
    webhook_replay = replay_dead_letter(conn, webhook_letter, lease_seconds=30)

    assert event_replay.status is ReplayStatus.NOT_REPLAYABLE
    assert event_replay.detail == f"the webhook of event {dead_event} is no longer in the log"
    assert webhook_replay.status is ReplayStatus.NOT_REPLAYABLE
    assert "no longer in the log" in webhook_replay.detail
    # Nothing changed: both dead letters are open, the event is still dead.
    assert count(conn, "SELECT count(*) FROM dead_letter WHERE replayed_at IS NULL") == 2
    assert conn.execute("SELECT status FROM event WHERE id = %s", (dead_event,)).fetchone() == (
        "dead",
    )


def test_a_partition_with_webhooks_not_yet_terminal_is_kept_and_reported(
    conn: psycopg.Connection[Any],
):
    old_day = today() - dt.timedelta(days=40)
    old = create_partition(conn, old_day)
    add_webhook(conn, noon(old_day))
    add_webhook(conn, noon(old_day), status="split", event_status="retrying")

    report = drop_expired_partitions(conn, retention_days=RETENTION_DAYS)

    assert report.dropped == []
    assert report.kept_open == {old: 1}
    assert old in partition_names(conn)
    assert count(conn, "SELECT count(*) FROM event") == 2  # nothing deleted
    assert count(conn, "SELECT count(*) FROM webhook_digest") == 2


def test_a_webhook_reopened_after_the_first_look_is_seen_under_the_lock_and_undoes_the_drop(
    conn: psycopg.Connection[Any],
):
    old_day = today() - dt.timedelta(days=40)
    old = create_partition(conn, old_day)
    add_webhook(conn, noon(old_day))
    # A replay reopening a webhook between the first look and DETACH: the drop itself sees it.
    add_webhook(conn, noon(old_day), status="split", event_status="pending")
    partition = next(p for p in list_log_partitions(conn) if p.name == old)

    with pytest.raises(retention._StillOpen):
        retention._drop_partition(conn, partition, lock_timeout="1s")

    assert old in partition_names(conn)
    assert count(conn, "SELECT count(*) FROM event") == 2
    assert count(conn, "SELECT count(*) FROM webhook_digest") == 2
    assert count(conn, "SELECT count(*) FROM webhook_archive") == 0


def test_a_busy_log_makes_the_drop_give_up_quickly_and_change_nothing(
    conn: psycopg.Connection[Any],
):
    old_day = today() - dt.timedelta(days=40)
    old = create_partition(conn, old_day)
    add_webhook(conn, noon(old_day))
    dsn = conn.info.dsn
    with psycopg.connect(dsn) as reader:  # a long read of the log holds its lock
        reader.execute("SELECT count(*) FROM webhook_log").fetchone()
        started = time.perf_counter()
        report = drop_expired_partitions(conn, retention_days=RETENTION_DAYS, lock_timeout="100ms")
        waited = time.perf_counter() - started
        reader.rollback()

    assert report.busy == old
    assert report.dropped == []
    assert waited < 5
    assert old in partition_names(conn)
    assert count(conn, "SELECT count(*) FROM event") == 1  # the deletes were rolled back too
    assert count(conn, "SELECT count(*) FROM webhook_digest") == 1
    assert conn.execute("SHOW lock_timeout").fetchone() == ("0",)  # only that transaction's
    assert len(drop_expired_partitions(conn, retention_days=RETENTION_DAYS).dropped) == 1


def test_an_archived_webhook_goes_once_its_dead_letters_are_purged(
    conn: psycopg.Connection[Any],
):
    old_day = today() - dt.timedelta(days=40)
    create_partition(conn, old_day)
    at = noon(old_day)
    purged, purged_event, _ = add_webhook(conn, at, status="dead", event_status="dead")
    add_dead_letter(conn, purged, at, purged_event)
    still, still_event, _ = add_webhook(conn, at, status="dead", event_status="dead")
    add_dead_letter(conn, still, at, still_event)
    drop_expired_partitions(conn, retention_days=RETENTION_DAYS)
    conn.execute("DELETE FROM dead_letter WHERE webhook_id = %s", (purged,))  # dlq purge

    assert prune_archive(conn) == 1

    assert [row[0] for row in conn.execute("SELECT id FROM webhook_archive")] == [still]
    assert {row[0] for row in conn.execute("SELECT id FROM event")} == {still_event}


def test_dropping_a_partition_of_ten_thousand_webhooks_is_measured(
    conn: psycopg.Connection[Any],
):
    old_day = today() - dt.timedelta(days=40)
    create_partition(conn, old_day)
    add_bulk(conn, old_day, 10_000)
    webhook, event, _ = add_webhook(conn, noon(old_day), status="dead", event_status="dead")
    add_dead_letter(conn, webhook, noon(old_day), event)
    conn.execute("ANALYZE webhook_log")  # a 30-day-old partition has its statistics
    conn.execute("ANALYZE event")

    report = drop_expired_partitions(conn, retention_days=RETENTION_DAYS)

    (drop,) = report.dropped
    assert (drop.archived, drop.digests, drop.events) == (1, 10_001, 10_000)
    print(
        f"\ndropped {drop.partition} (10,001 webhooks of ~2 KB, 10,000 events, 10,001 digests):"
        f" {drop.seconds * 1000:.1f} ms in all, {drop.locked_seconds * 1000:.1f} ms with"
        " webhook_log locked (DETACH → commit)"
    )
