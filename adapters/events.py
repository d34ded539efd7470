"""Event rows: split fan-out, the claim/commit protocol, retries, dead letters.

The attempt protocol, each step its own transaction:

1. ``claim_event``   lock the row (SKIP LOCKED), count the attempt, set a fresh fencing token
                     and commit — an attempt that kills its worker is still counted;
2. ``lock_claim``    in the handler's transaction, re-lock the row if the token is still ours;
   ``finish_event``  record the outcome in that same transaction (effect and status commit
                     together, or neither does);
3. on failure        ``schedule_retry`` or ``dead_letter_event``, fenced by the token.

Webhook counters (``events_open``/``events_dead``) change in the same transaction as the
event's status, under the webhook row's lock, so the webhook's status is never stale.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from adapters.postgres import Conn
from domain.webhooks import ChangeRef

OPEN_STATUSES = ("pending", "processing", "retrying")
TERMINAL_STATUSES = ("processed", "ignored", "dead")
MAX_ERROR_CHARS = 4000

_EVENT_COLUMNS = (
    "id, webhook_id, webhook_received_at, entry_index, change_index, entry_id, entry_time,"
    " field, value, status, attempts,"
    " extract(epoch FROM now() - claimed_at)::float8 AS claim_age_s, nul_replaced, kind"
)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event row: a webhook change (``kind`` "change"), or a job (no webhook; ``field``
    names the job and ``value`` holds its parameters)."""

    id: int
    webhook_id: int | None
    webhook_received_at: datetime | None
    entry_index: int | None
    change_index: int | None
    entry_id: str | None
    entry_time: int | None
    field: str
    value: dict[str, Any]
    status: str
    attempts: int
    claim_age_s: float | None  # seconds since the last claim, by the database's clock
    nul_replaced: bool = False  # its change held U+0000, stored as U+FFFD
    kind: str = "change"

    @property
    def is_job(self) -> bool:
        return self.kind == "job"

    def previous_attempt_died(self, lease_seconds: int) -> bool:
        """Its last claim is older than the lease and never recorded an outcome: the worker
        running it died (killed, or crashed by this very event)."""
        return (
            self.status == "processing"
            and self.claim_age_s is not None
            and self.claim_age_s > lease_seconds
        )


@dataclass(frozen=True, slots=True)
class Claim:
    event: EventRecord
    token: uuid.UUID


@dataclass(frozen=True, slots=True)
class WebhookProgress:
    """The webhook's state after an event became terminal."""

    webhook_id: int
    received_at: datetime
    status: str
    events_open: int


def _record(row: Sequence[Any]) -> EventRecord:
    return EventRecord(*row)


def clip_error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def insert_events(
    conn: Conn,
    webhook_id: int,
    received_at: datetime,
    changes: Sequence[ChangeRef],
    *,
    lease_seconds: int,
) -> list[int]:
    """Insert one pending event per change (idempotent on the change key); all their ids, in
    change order."""
    inserted = conn.execute(
        """
        INSERT INTO event (webhook_id, webhook_received_at, entry_index, change_index,
                           entry_id, entry_time, field, value, nul_replaced, due_at)
        SELECT %(webhook_id)s, %(received_at)s, e, c, i, t, f, v, n,
               now() + make_interval(secs => %(lease)s)
          FROM unnest(%(entries)s::int[], %(changes)s::int[], %(ids)s::text[],
                      %(times)s::bigint[], %(fields)s::text[], %(values)s::jsonb[],
                      %(nuls)s::boolean[])
               AS u(e, c, i, t, f, v, n)
        ON CONFLICT (webhook_id, entry_index, change_index) DO NOTHING
        RETURNING id, entry_index, change_index
        """,
        {
            "webhook_id": webhook_id,
            "received_at": received_at,
            "lease": lease_seconds,
            "entries": [c.entry_index for c in changes],
            "changes": [c.change_index for c in changes],
            "ids": [c.entry_id for c in changes],
            "times": [c.entry_time for c in changes],
            "fields": [c.field for c in changes],
            "values": [Jsonb(dict(c.value)) for c in changes],
            "nuls": [c.nul_replaced for c in changes],
        },
    ).fetchall()
    if len(inserted) == len(changes):  # the usual case: every event is new
        return [int(row[0]) for row in sorted(inserted, key=lambda row: (row[1], row[2]))]
    # Some existed already (a split interrupted after its commit?): read them all back.
    return [
        int(row[0])
        for row in conn.execute(
            "SELECT id FROM event WHERE webhook_id = %s ORDER BY entry_index, change_index",
            (webhook_id,),
        ).fetchall()
    ]


def load_event(conn: Conn, event_id: int) -> EventRecord | None:
    row = conn.execute(f"SELECT {_EVENT_COLUMNS} FROM event WHERE id = %s", (event_id,)).fetchone()
    return _record(row) if row else None


def lock_open_event(conn: Conn, event_id: int) -> EventRecord | None:
    """The event locked FOR UPDATE if it is open and nobody holds it; else None."""
    row = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM event"
        " WHERE id = %s AND status IN ('pending', 'processing', 'retrying')"
        " FOR UPDATE SKIP LOCKED",
        (event_id,),
    ).fetchone()
    return _record(row) if row else None


def claim_event(conn: Conn, event_id: int, *, lease_seconds: int) -> Claim:
    """Count one attempt and take a fresh fencing token (caller holds the row lock)."""
    token = uuid.uuid4()
    row = conn.execute(
        f"""
        UPDATE event
           SET attempts = attempts + 1, status = 'processing', claim_token = %(token)s,
               claimed_at = now(), next_attempt_at = NULL,
               due_at = now() + make_interval(secs => %(lease)s)
         WHERE id = %(id)s
        RETURNING {_EVENT_COLUMNS}
        """,
        {"id": event_id, "token": token, "lease": lease_seconds},
    ).fetchone()
    assert row is not None
    return Claim(_record(row), token)


CLAIM_READY_EVENT = f"""
WITH ready AS (
    SELECT id AS ready_id FROM event
     WHERE id = %(id)s AND status IN ('pending', 'retrying') AND attempts < %(max_attempts)s
     FOR UPDATE SKIP LOCKED
)
UPDATE event
   SET attempts = attempts + 1, status = 'processing', claim_token = %(token)s,
       claimed_at = now(), next_attempt_at = NULL,
       due_at = now() + make_interval(secs => %(lease)s)
  FROM ready
 WHERE id = ready.ready_id
RETURNING {_EVENT_COLUMNS}
"""


def claim_ready_event(
    conn: Conn, event_id: int, *, lease_seconds: int, max_attempts: int
) -> Claim | None:
    """The common case in one statement: a pending or retrying event with attempts left,
    that nobody holds, is claimed at once. None means "not that simple" (terminal, held,
    processing after a dead attempt, or out of attempts): the caller looks closer."""
    token = uuid.uuid4()
    row = conn.execute(
        CLAIM_READY_EVENT,
        {"id": event_id, "token": token, "lease": lease_seconds, "max_attempts": max_attempts},
    ).fetchone()
    return Claim(_record(row), token) if row else None


def lock_claim(conn: Conn, claim: Claim) -> bool:
    """Re-lock the claimed row; False when another claim superseded ours."""
    row = conn.execute(
        "SELECT 1 FROM event WHERE id = %s AND claim_token = %s AND status = 'processing'"
        " FOR UPDATE",
        (claim.event.id, claim.token),
    ).fetchone()
    return row is not None


def _close_on_webhook(conn: Conn, event: EventRecord, *, dead: bool) -> WebhookProgress | None:
    """Count the event's end on its webhook; None for a job (it has no webhook)."""
    if event.webhook_id is None:
        return None
    row = conn.execute(
        """
        UPDATE webhook_log
           SET events_open = events_open - 1,
               events_dead = events_dead + %(dead)s,
               status = CASE
                   WHEN events_dead + %(dead)s > 0 THEN 'dead'
                   WHEN events_open - 1 = 0 THEN 'processed'
                   ELSE status END,
               finished_at = CASE WHEN events_open - 1 = 0 THEN now() ELSE finished_at END
         WHERE id = %(id)s AND received_at = %(received_at)s
        RETURNING id, received_at, status, events_open
        """,
        {"id": event.webhook_id, "received_at": event.webhook_received_at, "dead": int(dead)},
    ).fetchone()
    assert row is not None
    return WebhookProgress(*row)


@dataclass(frozen=True, slots=True)
class Finished:
    """A claimed event ended; ``webhook`` is its webhook's state after it (None for a job)."""

    webhook: WebhookProgress | None


_CLOSE_ON_WEBHOOK = """
UPDATE webhook_log w
   SET events_open = w.events_open - 1,
       events_dead = w.events_dead + %(dead)s,
       status = CASE
           WHEN w.events_dead + %(dead)s > 0 THEN 'dead'
           WHEN w.events_open - 1 = 0 THEN 'processed'
           ELSE w.status END,
       finished_at = CASE WHEN w.events_open - 1 = 0 THEN now() ELSE w.finished_at END
  FROM finished f
 WHERE w.id = f.webhook_id AND w.received_at = f.webhook_received_at
RETURNING w.id, w.received_at, w.status, w.events_open
"""

# One round trip: the event's outcome, fenced by the claim token, and its webhook's counters
# (none for a job). ``finished`` says whether the fence held.
FINISH_EVENT = f"""
WITH finished AS (
    UPDATE event SET status = %(status)s, finished_at = now(), due_at = NULL,
                     claim_token = NULL, last_error = NULL
     WHERE id = %(id)s AND claim_token = %(token)s AND status = 'processing'
    RETURNING webhook_id, webhook_received_at
), closed AS ({_CLOSE_ON_WEBHOOK})
SELECT (SELECT count(*) FROM finished), closed.* FROM (SELECT 1) AS one LEFT JOIN closed ON true
"""


def finish_event(conn: Conn, claim: Claim, status: str) -> Finished | None:
    """Mark the claimed event ``processed``/``ignored``; None if the claim was lost."""
    if status not in ("processed", "ignored"):
        raise ValueError(f"not a success status: {status}")
    row = conn.execute(
        FINISH_EVENT, {"status": status, "id": claim.event.id, "token": claim.token, "dead": 0}
    ).fetchone()
    assert row is not None  # the outer SELECT always returns one row
    if row[0] == 0:
        return None
    if row[1] is None:  # a job: no webhook
        return Finished(None)
    return Finished(WebhookProgress(*row[1:]))


def schedule_retry(
    conn: Conn, claim: Claim, *, delay_ms: int, error: str, lease_seconds: int
) -> bool:
    """Park the event until its next attempt; False if the claim was lost."""
    row = conn.execute(
        """
        UPDATE event
           SET status = 'retrying', claim_token = NULL, last_error = %(error)s,
               next_attempt_at = now() + make_interval(secs => %(delay)s),
               due_at = now() + make_interval(secs => %(delay)s + %(lease)s)
         WHERE id = %(id)s AND claim_token = %(token)s AND status = 'processing'
        RETURNING id
        """,
        {
            "id": claim.event.id,
            "token": claim.token,
            "error": clip_error(error),
            "delay": delay_ms / 1000,
            "lease": lease_seconds,
        },
    ).fetchone()
    return row is not None


def dead_letter_event(
    conn: Conn,
    event_id: int,
    *,
    reason: str,
    error: str,
    token: uuid.UUID | None = None,
) -> Finished | None:
    """Move an open event to ``dead`` with one dead-letter row; None if it was not open.

    With ``token``, only the holder of that claim may do it.
    """
    fence = " AND claim_token = %(token)s" if token is not None else ""
    row = conn.execute(
        f"""
        UPDATE event SET status = 'dead', finished_at = now(), due_at = NULL,
                         claim_token = NULL, last_error = %(error)s
         WHERE id = %(id)s AND status IN ('pending', 'processing', 'retrying'){fence}
        RETURNING {_EVENT_COLUMNS}
        """,
        {"id": event_id, "token": token, "error": clip_error(error)},
    ).fetchone()
    if row is None:
        return None
    event = _record(row)
    conn.execute(
        """
        INSERT INTO dead_letter (webhook_id, webhook_received_at, event_id, field, reason,
                                 error, attempts)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (event_id) WHERE replayed_at IS NULL AND event_id IS NOT NULL DO NOTHING
        """,
        (
            event.webhook_id,
            event.webhook_received_at,
            event.id,
            event.field,
            reason,
            clip_error(error),
            event.attempts,
        ),
    )
    return Finished(_close_on_webhook(conn, event, dead=True))


def claim_due_events(conn: Conn, *, lease_seconds: int, limit: int) -> list[int]:
    """Open events whose lease passed (lost message, dead worker): push their lease, return ids.

    Rows locked by a worker that is processing them right now are skipped.
    """
    return [
        int(row[0])
        for row in conn.execute(
            """
            WITH due AS (
                SELECT id FROM event
                 WHERE status IN ('pending', 'processing', 'retrying') AND due_at < now()
                 ORDER BY due_at
                 LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED
            )
            UPDATE event e SET due_at = now() + make_interval(secs => %(lease)s)
              FROM due WHERE e.id = due.id
            RETURNING e.id
            """,
            {"lease": lease_seconds, "limit": limit},
        ).fetchall()
    ]


INSERT_JOB = """
INSERT INTO event (kind, job_key, field, value, due_at)
VALUES ('job', %(key)s, %(field)s, %(value)s, now() + make_interval(secs => %(lease)s))
ON CONFLICT (job_key) WHERE job_key IS NOT NULL DO NOTHING
RETURNING id
"""

SELECT_JOB = "SELECT id FROM event WHERE job_key = %s"


def insert_job(
    conn: Conn, *, field: str, key: str, value: dict[str, Any], lease_seconds: int
) -> tuple[int, bool]:
    """A pending job (an event without webhook) for ``key``: its id, and whether it is new.

    A job already recorded under ``key`` is left as it is, whatever its state: enqueueing a
    job twice runs it once (a replay resets the existing row). The relay delivers it after
    one lease if the caller's enqueue is lost.
    """
    row = conn.execute(
        INSERT_JOB, {"key": key, "field": field, "value": Jsonb(value), "lease": lease_seconds}
    ).fetchone()
    if row is not None:
        return int(row[0]), True
    existing = conn.execute(SELECT_JOB, (key,)).fetchone()
    assert existing is not None  # the conflict was on this key
    return int(existing[0]), False
