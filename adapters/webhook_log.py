"""The raw webhook log: append (ingress, grouped), read (workers, CLI).

The body is stored as the exact bytes Meta signed, with their sha256, the client address and
a few request headers. A body whose digest is
already in ``webhook_digest`` is a duplicate delivery and gets no new row, whichever day
partition the first copy landed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from adapters.postgres import AsyncConn, Conn

# One statement per batch: claim the digests that are new, then insert exactly those bodies.
# Both inserts commit together, so a digest never exists without its log row.
# Ids are drawn in arrival order, but digests are claimed in ascending order: two concurrent
# batches sharing bodies then wait on each other in one direction only. Claimed in arrival
# order, batches [a, b] and [b, a] deadlock and one of them fails whole (503 for all of it).
_APPEND_BATCH = """
WITH input AS (
    SELECT sha256, body, source_ip, headers, ord
      FROM unnest(%(digests)s::bytea[], %(bodies)s::bytea[], %(ips)s::inet[], %(headers)s::jsonb[])
           WITH ORDINALITY AS t(sha256, body, source_ip, headers, ord)
), numbered AS MATERIALIZED (
    SELECT sha256, body, source_ip, headers, nextval('webhook_log_id_seq') AS webhook_id
      FROM input ORDER BY ord
), claimed AS (
    INSERT INTO webhook_digest (sha256, webhook_id, received_at)
    SELECT sha256, webhook_id, now() FROM numbered ORDER BY sha256
    ON CONFLICT (sha256) DO NOTHING
    RETURNING sha256, webhook_id, received_at
), logged AS (
    INSERT INTO webhook_log (id, received_at, sha256, body, source_ip, headers, due_at)
    SELECT c.webhook_id, c.received_at, c.sha256, n.body, n.source_ip, n.headers,
           now() + make_interval(secs => %(lease)s)
      FROM claimed c JOIN numbered n USING (sha256)
    RETURNING id, sha256
)
SELECT sha256, id FROM logged
"""


@dataclass(frozen=True, slots=True)
class RawWebhook:
    """A body to append; ``digest`` is its sha256; who sent it, as far as the ingress knows."""

    body: bytes
    digest: bytes
    source_ip: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, body: bytes, *, source_ip: str | None = None, headers: Mapping[str, str] | None = None
    ) -> RawWebhook:
        return cls(body, hashlib.sha256(body).digest(), source_ip, dict(headers or {}))


@dataclass(frozen=True, slots=True)
class StoredWebhook:
    id: int
    received_at: datetime
    sha256: bytes
    body: bytes
    status: str
    events_total: int
    events_open: int
    events_dead: int
    split_attempts: int
    split_at: datetime | None
    finished_at: datetime | None
    last_error: str | None
    source_ip: str | None
    headers: dict[str, str] | None


async def append_webhooks(
    conn: AsyncConn, items: Sequence[RawWebhook], *, relay_lease_seconds: int
) -> list[int | None]:
    """Insert the batch in one transaction; per item its new id, or None for a duplicate.

    Items repeated inside the batch are inserted once; the later copies are duplicates.
    One statement, atomic on its own: on an autocommit connection it is committed when this
    returns; otherwise the caller commits before acknowledging anyone.
    """
    first_index: dict[bytes, int] = {}
    for index, item in enumerate(items):
        first_index.setdefault(item.digest, index)
    unique = [items[i] for i in sorted(first_index.values())]
    cursor = await conn.execute(
        _APPEND_BATCH,
        {
            "digests": [item.digest for item in unique],
            "bodies": [item.body for item in unique],
            "ips": [item.source_ip for item in unique],
            "headers": [Jsonb(dict(item.headers)) for item in unique],
            "lease": relay_lease_seconds,
        },
    )
    new_ids: dict[bytes, int] = {
        bytes(digest): int(webhook_id) for digest, webhook_id in await cursor.fetchall()
    }
    return [
        new_ids.get(item.digest) if first_index[item.digest] == index else None
        for index, item in enumerate(items)
    ]


_COLUMNS = (
    "id, received_at, sha256, body, status, events_total, events_open, events_dead,"
    " split_attempts, split_at, finished_at, last_error, source_ip, headers"
)


def _stored(row: Sequence[Any]) -> StoredWebhook:
    return StoredWebhook(
        id=row[0],
        received_at=row[1],
        sha256=bytes(row[2]),
        body=bytes(row[3]),
        status=row[4],
        events_total=row[5],
        events_open=row[6],
        events_dead=row[7],
        split_attempts=row[8],
        split_at=row[9],
        finished_at=row[10],
        last_error=row[11],
        source_ip=None if row[12] is None else str(row[12]),
        headers=row[13],
    )


def load_webhook(conn: Conn, webhook_id: int) -> StoredWebhook | None:
    """The webhook row, or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM webhook_log WHERE id = %s", (webhook_id,)
    ).fetchone()
    return _stored(row) if row else None


def count_split_attempt(conn: Conn, webhook_id: int, *, lease_seconds: int) -> StoredWebhook | None:
    """Lock a ``received`` webhook (SKIP LOCKED), count one split attempt, push its lease.

    None when the webhook is missing, already split, or being split by another worker.
    """
    row = conn.execute(
        f"""
        WITH target AS (
            SELECT id, received_at FROM webhook_log
             WHERE id = %(id)s AND status = 'received'
             FOR UPDATE SKIP LOCKED
        )
        UPDATE webhook_log w
           SET split_attempts = split_attempts + 1,
               due_at = now() + make_interval(secs => %(lease)s)
          FROM target
         WHERE w.id = target.id AND w.received_at = target.received_at
        RETURNING {", ".join("w." + c.strip() for c in _COLUMNS.split(","))}
        """,
        {"id": webhook_id, "lease": lease_seconds},
    ).fetchone()
    return _stored(row) if row else None


def mark_split(conn: Conn, webhook_id: int, received_at: datetime, events: int) -> bool:
    """The webhook now has ``events`` open events (at least one: see ``list_changes``).

    Locks the row; False (nothing changed) when it is no longer ``received``: another
    worker split it meanwhile. The caller inserts the events in the same transaction.
    """
    row = conn.execute(
        """
        UPDATE webhook_log
           SET status = 'split',
               events_total = %(events)s, events_open = %(events)s, events_dead = 0,
               split_at = now(), due_at = NULL, last_error = NULL, finished_at = NULL
         WHERE id = %(id)s AND received_at = %(received_at)s AND status = 'received'
        RETURNING id
        """,
        {"id": webhook_id, "received_at": received_at, "events": events},
    ).fetchone()
    return row is not None


def dead_letter_webhook(conn: Conn, webhook: StoredWebhook, *, reason: str, error: str) -> bool:
    """Mark a webhook that cannot be split ``dead`` with one dead-letter row."""
    row = conn.execute(
        """
        UPDATE webhook_log SET status = 'dead', due_at = NULL, finished_at = now(),
                               last_error = %(error)s
         WHERE id = %(id)s AND received_at = %(received_at)s AND status = 'received'
        RETURNING id
        """,
        {"id": webhook.id, "received_at": webhook.received_at, "error": error[:4000]},
    ).fetchone()
    if row is None:
        return False
    conn.execute(
        """
        INSERT INTO dead_letter (webhook_id, webhook_received_at, event_id, field, reason,
                                 error, attempts)
        VALUES (%s, %s, NULL, NULL, %s, %s, %s)
        ON CONFLICT (webhook_id) WHERE replayed_at IS NULL AND event_id IS NULL DO NOTHING
        """,
        (webhook.id, webhook.received_at, reason, error[:4000], webhook.split_attempts),
    )
    return True


def claim_due_webhooks(conn: Conn, *, lease_seconds: int, limit: int) -> list[int]:
    """``received`` webhooks whose lease passed (enqueue lost): push their lease, return ids."""
    return [
        int(row[0])
        for row in conn.execute(
            """
            WITH due AS (
                SELECT id, received_at FROM webhook_log
                 WHERE status = 'received' AND due_at < now()
                 ORDER BY due_at
                 LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED
            )
            UPDATE webhook_log w SET due_at = now() + make_interval(secs => %(lease)s)
              FROM due WHERE w.id = due.id AND w.received_at = due.received_at
            RETURNING w.id
            """,
            {"lease": lease_seconds, "limit": limit},
        ).fetchall()
    ]


#: What operators call a webhook's status, and the stored statuses behind it.
PUBLIC_STATUS = {
    "received": "pending",
    "split": "pending",
    "processed": "processed",
    "dead": "dead",
}
STORED_STATUSES = {
    "pending": ("received", "split"),
    "processed": ("processed",),
    "dead": ("dead",),
}


@dataclass(frozen=True, slots=True)
class WebhookSummary:
    id: int
    received_at: datetime
    status: str  # pending | processed | dead
    events: int


def list_webhooks(
    conn: Conn, *, status: str | None = None, since: datetime | None = None, limit: int = 100
) -> list[WebhookSummary]:
    """Newest first; ``limit`` 0 means no limit."""
    clauses: list[str] = []
    params: list[object] = []
    if status is not None:
        clauses.append("status = ANY(%s)")
        params.append(list(STORED_STATUSES[status]))
    if since is not None:
        clauses.append("received_at >= %s")
        params.append(since)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    bound = "LIMIT %s" if limit else ""
    if limit:
        params.append(limit)
    rows = conn.execute(
        f"SELECT id, received_at, status, events_total FROM webhook_log {where}"
        f" ORDER BY id DESC {bound}",
        params,
    ).fetchall()
    return [WebhookSummary(r[0], r[1], PUBLIC_STATUS[r[2]], r[3]) for r in rows]
