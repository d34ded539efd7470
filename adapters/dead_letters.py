"""The dead-letter queue of record: list, inspect, replay and purge (operator tools, API).

A dead letter is *open* while ``replayed_at`` is NULL. Replaying one closes it and puts the
row it stands for back in line with a fresh attempt budget, in one transaction:

- an event dead letter resets the event to ``pending`` (attempts 0) and moves it from the
  webhook's ``events_dead`` counter back to ``events_open``;
- a webhook dead letter (``event_id`` NULL: the body could not be split) resets the webhook
  to ``received`` with ``split_attempts`` 0;
- a job's dead letter (``webhook_id`` NULL: the job came from no webhook) resets the job's
  event like any other, with no webhook to count it on.

The raw body is never touched. The row is due after one relay lease, so the caller's enqueue
is only a shortcut: if it fails, the relay delivers the row anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import psycopg

from adapters.postgres import Conn

_COLUMNS = (
    "id, webhook_id, webhook_received_at, event_id, field, reason, error, attempts,"
    " dead_at, replayed_at"
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    webhook_id: int | None  # None: a job, which came from no webhook
    webhook_received_at: datetime | None
    event_id: int | None  # None: the whole webhook could not be split
    field: str | None
    reason: str
    error: str
    attempts: int
    dead_at: datetime
    replayed_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.replayed_at is None

    @property
    def is_job(self) -> bool:
        return self.webhook_id is None


@dataclass(frozen=True, slots=True)
class DeadLetterDetail:
    """A dead letter with what an operator needs to judge it."""

    dead_letter: DeadLetter
    body: bytes | None  # None once the webhook left the log (retention), or for a job
    value: dict[str, Any] | None  # the event's change value; None for a webhook dead letter
    history: list[DeadLetter]  # every dead letter of the same event/webhook, oldest first


class ReplayStatus(Enum):
    REPLAYED = "replayed"
    ALREADY_REPLAYED = "already_replayed"  # closed before we got to it: nothing to do
    NOT_FOUND = "not_found"  # no such dead letter (purged meanwhile)
    NOT_REPLAYABLE = "not_replayable"  # the event/webhook is gone or no longer dead


@dataclass(frozen=True, slots=True)
class ReplayResult:
    dead_letter_id: int
    status: ReplayStatus
    event_id: int | None = None  # what to enqueue for an event dead letter
    webhook_id: int | None = None  # what to enqueue for a webhook dead letter
    detail: str = ""


def _dead_letter(row: Sequence[Any]) -> DeadLetter:
    return DeadLetter(*row)


def _filters(
    *, field: str | None, reason: str | None, since: datetime | None
) -> tuple[list[str], list[object]]:
    clauses = ["replayed_at IS NULL"]
    params: list[object] = []
    if field is not None:
        clauses.append("field = %s")
        params.append(field)
    if reason is not None:
        clauses.append("reason = %s")
        params.append(reason)
    if since is not None:
        clauses.append("dead_at >= %s")
        params.append(since)
    return clauses, params


def list_open_dead_letters(
    conn: Conn,
    *,
    field: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    oldest_first: bool = False,
) -> list[DeadLetter]:
    """Open dead letters, newest first (oldest first to replay them); ``limit`` 0 = no limit."""
    clauses, params = _filters(field=field, reason=reason, since=since)
    order = "dead_at, id" if oldest_first else "dead_at DESC, id DESC"
    bound = ""
    if limit:
        bound = " LIMIT %s"
        params.append(limit)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM dead_letter WHERE {' AND '.join(clauses)} ORDER BY {order}{bound}",
        params,
    ).fetchall()
    return [_dead_letter(row) for row in rows]


def load_dead_letters(conn: Conn, ids: Sequence[int]) -> dict[int, DeadLetter]:
    """The dead letters among ``ids`` that exist, by id."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM dead_letter WHERE id = ANY(%s)", (list(ids),)
    ).fetchall()
    return {letter.id: letter for letter in map(_dead_letter, rows)}


def load_dead_letter(conn: Conn, dead_letter_id: int) -> DeadLetter | None:
    return load_dead_letters(conn, [dead_letter_id]).get(dead_letter_id)


def load_detail(conn: Conn, dead_letter_id: int) -> DeadLetterDetail | None:
    """The dead letter, the raw body it came from, its change value and its history."""
    letter = load_dead_letter(conn, dead_letter_id)
    if letter is None:
        return None
    body_row = None
    if letter.webhook_id is not None:
        # Log retention moves a dead-lettered webhook into webhook_archive before it drops
        # its partition, so its body is in one of the two.
        body_row = conn.execute(
            "SELECT body FROM webhook_log WHERE id = %(id)s AND received_at = %(at)s"
            " UNION ALL"
            " SELECT body FROM webhook_archive WHERE id = %(id)s AND received_at = %(at)s"
            " LIMIT 1",
            {"id": letter.webhook_id, "at": letter.webhook_received_at},
        ).fetchone()
    value: dict[str, Any] | None = None
    if letter.event_id is not None:
        value_row = conn.execute(
            "SELECT value FROM event WHERE id = %s", (letter.event_id,)
        ).fetchone()
        value = value_row[0] if value_row else None
        history_rows = conn.execute(
            f"SELECT {_COLUMNS} FROM dead_letter WHERE event_id = %s ORDER BY dead_at, id",
            (letter.event_id,),
        ).fetchall()
    else:
        history_rows = conn.execute(
            f"SELECT {_COLUMNS} FROM dead_letter WHERE webhook_id = %s AND event_id IS NULL"
            " ORDER BY dead_at, id",
            (letter.webhook_id,),
        ).fetchall()
    return DeadLetterDetail(
        dead_letter=letter,
        body=bytes(body_row[0]) if body_row else None,
        value=value,
        history=[_dead_letter(row) for row in history_rows],
    )


_CLOSE = """
UPDATE dead_letter SET replayed_at = now()
 WHERE id = %s AND replayed_at IS NULL
RETURNING webhook_id, webhook_received_at, event_id
"""

# last_error is kept: it tells the next reader why the event was dead before.
_RESET_EVENT = """
UPDATE event
   SET status = 'pending', attempts = 0, claim_token = NULL, next_attempt_at = NULL,
       finished_at = NULL, due_at = now() + make_interval(secs => %(lease)s)
 WHERE id = %(id)s AND status = 'dead'
RETURNING webhook_id, webhook_received_at
"""

_REOPEN_EVENT_ON_WEBHOOK = """
UPDATE webhook_log
   SET events_open = events_open + 1,
       events_dead = events_dead - 1,
       status = CASE WHEN events_dead - 1 > 0 THEN 'dead' ELSE 'split' END,
       finished_at = NULL
 WHERE id = %(id)s AND received_at = %(received_at)s AND events_dead > 0
RETURNING id
"""

_RESET_WEBHOOK = """
UPDATE webhook_log
   SET status = 'received', split_attempts = 0, finished_at = NULL,
       due_at = now() + make_interval(secs => %(lease)s)
 WHERE id = %(id)s AND received_at = %(received_at)s AND status = 'dead'
RETURNING id
"""


def replay_dead_letter(conn: Conn, dead_letter_id: int, *, lease_seconds: int) -> ReplayResult:
    """Close an open dead letter and reset what it stands for, in one transaction.

    Idempotent: a dead letter already replayed is left alone (``ALREADY_REPLAYED``). When the
    event or webhook cannot be reset (gone, or not dead) nothing changes (``NOT_REPLAYABLE``).
    Needs an autocommit connection (the transaction here must be the outermost one); the
    caller enqueues ``event_id``/``webhook_id`` after this returns, once it is committed.
    """
    with conn.transaction():
        result = _replay_in_transaction(conn, dead_letter_id, lease_seconds=lease_seconds)
        if result.status is ReplayStatus.NOT_REPLAYABLE:
            raise psycopg.Rollback()  # the dead letter stays open: nothing changed
    return result


def _replay_in_transaction(conn: Conn, dead_letter_id: int, *, lease_seconds: int) -> ReplayResult:
    closed = conn.execute(_CLOSE, (dead_letter_id,)).fetchone()
    if closed is None:
        exists = conn.execute(
            "SELECT 1 FROM dead_letter WHERE id = %s", (dead_letter_id,)
        ).fetchone()
        status = ReplayStatus.ALREADY_REPLAYED if exists else ReplayStatus.NOT_FOUND
        return ReplayResult(dead_letter_id, status)
    webhook_id, received_at, event_id = closed
    if event_id is None:
        reset = conn.execute(
            _RESET_WEBHOOK, {"id": webhook_id, "received_at": received_at, "lease": lease_seconds}
        ).fetchone()
        if reset is None:
            return ReplayResult(
                dead_letter_id,
                ReplayStatus.NOT_REPLAYABLE,
                detail=f"webhook {webhook_id} is no longer in the log, or not dead",
            )
        return ReplayResult(dead_letter_id, ReplayStatus.REPLAYED, webhook_id=webhook_id)
    return _replay_event(conn, dead_letter_id, event_id, lease_seconds=lease_seconds)


def _replay_event(
    conn: Conn, dead_letter_id: int, event_id: int, *, lease_seconds: int
) -> ReplayResult:
    event = conn.execute(_RESET_EVENT, {"id": event_id, "lease": lease_seconds}).fetchone()
    if event is None:
        return ReplayResult(
            dead_letter_id,
            ReplayStatus.NOT_REPLAYABLE,
            detail=f"event {event_id} no longer exists, or is not dead",
        )
    if event[0] is not None:  # a job has no webhook to reopen
        reopened = conn.execute(
            _REOPEN_EVENT_ON_WEBHOOK, {"id": event[0], "received_at": event[1]}
        ).fetchone()
        if reopened is None:
            return ReplayResult(
                dead_letter_id,
                ReplayStatus.NOT_REPLAYABLE,
                detail=f"the webhook of event {event_id} is no longer in the log",
            )
    return ReplayResult(dead_letter_id, ReplayStatus.REPLAYED, event_id=event_id)


def count_dead_before(conn: Conn, cutoff: datetime) -> int:
    """Dead letters (open or replayed) that died before ``cutoff``."""
    row = conn.execute("SELECT count(*) FROM dead_letter WHERE dead_at < %s", (cutoff,)).fetchone()
    return int(row[0]) if row else 0


def purge_batch(conn: Conn, cutoff: datetime, *, batch: int) -> int:
    """Delete up to ``batch`` dead letters that died before ``cutoff``; how many went."""
    with conn.transaction():
        cursor = conn.execute(
            """
            DELETE FROM dead_letter
             WHERE id IN (SELECT id FROM dead_letter WHERE dead_at < %s ORDER BY id LIMIT %s)
            """,
            (cutoff, batch),
        )
        return cursor.rowcount


def purge_cutoff(conn: Conn, age: timedelta) -> datetime:
    """The database's ``now() - age``: one fixed bound for a purge done in batches."""
    row = conn.execute("SELECT now() - %s", (age,)).fetchone()
    assert row is not None
    cutoff: datetime = row[0]
    return cutoff
