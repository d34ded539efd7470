"""What the scheduler ages out: pending onboardings past their TTL, and old log partitions.

Log retention drops whole daily ``webhook_log`` partitions whose day ended more than
``LOG_RETENTION_DAYS`` ago, one transaction per partition:

1. ``lock_timeout`` and ``statement_timeout`` are set for this transaction only;
2. the day's ``webhook_digest`` rows go (duplicate detection only covers the retained log),
   and so do the ``event`` rows of its webhooks that are terminal and named by no dead letter;
3. ``DETACH PARTITION`` — it takes an ACCESS EXCLUSIVE lock on ``webhook_log`` itself, so
   ingest waits from here to the commit: the steps after it are small on purpose, and the
   short ``lock_timeout`` bounds how long ingest can queue behind us while we wait for it;
4. the webhooks a dead letter names (open or replayed) are copied into ``webhook_archive``,
   so ``wapipe dlq show`` still prints their raw body;
5. ``DROP TABLE`` and commit.

A partition that still holds a webhook that is not terminal (``received``/``split``) is left
alone and logged: its events still count themselves on the log row, and dropping it would lose
work. Today, future days and the default partition are never dropped. A partition that is busy
(the lock is not granted in time) is tried again at the next run.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_start
from typing import Any

import psycopg
from psycopg import sql

from adapters.postgres import Conn

log = logging.getLogger(__name__)

DEFAULT_EXPIRY_BATCH = 1_000
#: How long the drop may wait for its locks. Ingest queues behind a waiting ACCESS EXCLUSIVE
#: request, so this is also the longest stall retention can cause; a busy partition is simply
#: tried again at the next run.
DEFAULT_LOCK_TIMEOUT = "500ms"
#: The deletes of a day's digests and events grow with the day's volume; the connection's
#: default statement timeout (15 s) would cancel them on a busy day and retention would never
#: get through. They run before the ACCESS EXCLUSIVE lock is taken, so ingest does not wait.
DROP_STATEMENT_TIMEOUT = "10min"
PARTITION_NAME = re.compile(r"^webhook_log_p(?P<day>\d{8})$")

_EXPIRE_ONBOARDINGS = """
WITH due AS (
    SELECT tracking_code FROM onboarding
     WHERE status = 'pending' AND expires_at < now()
     ORDER BY expires_at
     LIMIT %(batch)s
       FOR UPDATE SKIP LOCKED
)
UPDATE onboarding o SET status = 'expired', updated_at = now()
  FROM due
 WHERE o.tracking_code = due.tracking_code
"""

_LIST_PARTITIONS = """
SELECT c.relname
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'webhook_log'::regclass
   AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
 ORDER BY c.relname
"""

_SET_TIMEOUTS = (
    "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)"
)

_COUNT_OPEN = sql.SQL("SELECT count(*) FROM {partition} WHERE status IN ('received', 'split')")

_DELETE_DIGESTS = """
DELETE FROM webhook_digest WHERE received_at >= %(lower)s AND received_at < %(upper)s
"""

# Events of kept webhooks (a dead letter names them) stay: their dead letters show them.
_DELETE_EVENTS = sql.SQL("""
DELETE FROM event e
 USING {partition} w
 WHERE e.webhook_id = w.id AND e.webhook_received_at = w.received_at
   AND e.status IN ('processed', 'ignored', 'dead')
   AND NOT EXISTS (SELECT 1 FROM dead_letter d WHERE d.webhook_id = w.id)
""")

_DETACH = sql.SQL("ALTER TABLE webhook_log DETACH PARTITION {partition}")

_ARCHIVE = sql.SQL("""
INSERT INTO webhook_archive (id, received_at, sha256, body, status, events_total, events_open,
                             events_dead, split_attempts, split_at, finished_at, last_error,
                             source_ip, headers)
SELECT w.id, w.received_at, w.sha256, w.body, w.status, w.events_total, w.events_open,
       w.events_dead, w.split_attempts, w.split_at, w.finished_at, w.last_error,
       w.source_ip, w.headers
  FROM {partition} w
 WHERE (w.id, w.received_at) IN (
       SELECT webhook_id, webhook_received_at FROM dead_letter
        WHERE webhook_received_at >= %(lower)s AND webhook_received_at < %(upper)s)
ON CONFLICT (id, received_at) DO NOTHING
""")

_DROP = sql.SQL("DROP TABLE {partition}")

# Once an operator purged every dead letter of an archived webhook nothing reads it any more:
# it goes, with the (terminal) events that were kept for it.
_PRUNE_ARCHIVE = """
WITH gone AS (
    DELETE FROM webhook_archive a
     WHERE NOT EXISTS (SELECT 1 FROM dead_letter d WHERE d.webhook_id = a.id)
    RETURNING a.id, a.received_at
), events AS (
    DELETE FROM event e
     USING gone
     WHERE e.webhook_id = gone.id AND e.webhook_received_at = gone.received_at
       AND e.status IN ('processed', 'ignored', 'dead')
    RETURNING e.id
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM events)
"""


def expire_onboardings(conn: Conn, *, batch: int = DEFAULT_EXPIRY_BATCH) -> int:
    """Mark pending onboardings past ``expires_at`` as ``expired``; how many changed.

    Batched, one short transaction per batch (``conn`` in autocommit mode). Rows a request is
    holding (a session arriving right now) are skipped and looked at again by the next run.
    Redis is not touched: a cached onboarding expires by its own TTL.
    """
    total = 0
    while True:
        with conn.transaction():
            changed = conn.execute(_EXPIRE_ONBOARDINGS, {"batch": batch}).rowcount
        total += changed
        if changed < batch:
            return total


@dataclass(frozen=True, slots=True)
class LogPartition:
    """A daily ``webhook_log`` partition: rows received in [lower, upper) UTC."""

    name: str
    day: date

    @property
    def lower(self) -> datetime:
        return datetime.combine(self.day, day_start(), tzinfo=UTC)

    @property
    def upper(self) -> datetime:
        return self.lower + timedelta(days=1)

    def is_expired(self, *, now: datetime, retention_days: int) -> bool:
        """Its day ended more than ``retention_days`` ago; today and later days never are."""
        if self.day >= now.astimezone(UTC).date():
            return False
        return self.upper <= now - timedelta(days=retention_days)


@dataclass(frozen=True, slots=True)
class PartitionDrop:
    partition: str
    day: date
    archived: int  # webhooks copied into webhook_archive
    digests: int
    events: int
    seconds: float  # the whole transaction
    locked_seconds: float  # from DETACH to commit: while webhook_log is locked


@dataclass(slots=True)
class RetentionReport:
    dropped: list[PartitionDrop] = field(default_factory=list)
    kept_open: dict[str, int] = field(default_factory=dict)  # partition → open webhooks
    busy: str | None = None  # the partition whose lock was not granted in time
    archive_pruned: int = 0


def list_log_partitions(conn: Conn) -> list[LogPartition]:
    """The daily partitions of ``webhook_log``, oldest first (never the default one)."""
    partitions = []
    for (name,) in conn.execute(_LIST_PARTITIONS).fetchall():
        match = PARTITION_NAME.match(name)
        if match:
            partitions.append(LogPartition(name, datetime.strptime(match["day"], "%Y%m%d").date()))
    return sorted(partitions, key=lambda partition: partition.day)


def drop_expired_partitions(
    conn: Conn,
    *,
    retention_days: int,
    now: datetime | None = None,
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT,
) -> RetentionReport:
    """Drop every expired partition that can go now (see the module docstring).

    ``conn`` must be in autocommit mode: each partition is its own transaction, so one that is
    kept or busy does not undo the others. ``now`` defaults to the database's clock, the one
    that stamped ``received_at``.
    """
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    if now is None:
        row: Any = conn.execute("SELECT now()").fetchone()
        now = row[0]
    assert now is not None
    report = RetentionReport()
    for partition in list_log_partitions(conn):
        if not partition.is_expired(now=now, retention_days=retention_days):
            continue
        open_webhooks = _count_open(conn, partition)
        if open_webhooks:
            _keep_open(report, partition, open_webhooks)
            continue
        try:
            drop = _drop_partition(conn, partition, lock_timeout=lock_timeout)
        except _StillOpen as still_open:
            _keep_open(report, partition, still_open.open_webhooks)
            continue
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as error:
            # Rolled back whole; the next run tries again. Later days wait: they are younger.
            log.warning(
                "log partition busy; retention will retry it",
                extra={"partition": partition.name, "error": type(error).__name__},
            )
            report.busy = partition.name
            break
        report.dropped.append(drop)
        log.info(
            "log partition dropped",
            extra={
                "partition": drop.partition,
                "archived": drop.archived,
                "digests": drop.digests,
                "events": drop.events,
                "seconds": round(drop.seconds, 3),
                "locked_seconds": round(drop.locked_seconds, 3),
            },
        )
    report.archive_pruned = prune_archive(conn)
    return report


def prune_archive(conn: Conn) -> int:
    """Delete archived webhooks no dead letter names any more (purged); how many went."""
    with conn.transaction():
        row: Any = conn.execute(_PRUNE_ARCHIVE).fetchone()
    return int(row[0])


def _keep_open(report: RetentionReport, partition: LogPartition, open_webhooks: int) -> None:
    report.kept_open[partition.name] = open_webhooks
    log.warning(
        "expired log partition kept: it still holds webhooks that are not terminal",
        extra={"partition": partition.name, "open_webhooks": open_webhooks},
    )


def _count_open(conn: Conn, partition: LogPartition) -> int:
    row: Any = conn.execute(_COUNT_OPEN.format(partition=sql.Identifier(partition.name))).fetchone()
    return int(row[0])


class _StillOpen(Exception):
    """Raised inside the drop transaction to roll it back: a webhook was reopened."""

    def __init__(self, open_webhooks: int) -> None:
        super().__init__(open_webhooks)
        self.open_webhooks = open_webhooks


def _drop_partition(conn: Conn, partition: LogPartition, *, lock_timeout: str) -> PartitionDrop:
    """Drop one partition in one transaction.

    Raises:
        psycopg.errors.LockNotAvailable: a lock was not granted within ``lock_timeout``.
        _StillOpen: a webhook of the partition is not terminal (nothing changed).
    """
    name = sql.Identifier(partition.name)
    bounds = {"lower": partition.lower, "upper": partition.upper}
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(_SET_TIMEOUTS, (lock_timeout, DROP_STATEMENT_TIMEOUT))
        digests = conn.execute(_DELETE_DIGESTS, bounds).rowcount
        events = conn.execute(_DELETE_EVENTS.format(partition=name)).rowcount
        conn.execute(_DETACH.format(partition=name))
        detached = time.perf_counter()
        # Under the lock now: a replay that reopened a webhook since the first look shows.
        open_webhooks = _count_open(conn, partition)
        if open_webhooks:
            raise _StillOpen(open_webhooks)
        archived = conn.execute(_ARCHIVE.format(partition=name), bounds).rowcount
        conn.execute(_DROP.format(partition=name))
    finished = time.perf_counter()
    return PartitionDrop(
        partition=partition.name,
        day=partition.day,
        archived=archived,
        digests=digests,
        events=events,
        seconds=finished - started,
        locked_seconds=finished - detached,
    )
