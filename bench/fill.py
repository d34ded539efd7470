"""Filling ``webhook_log`` with history, set-based: 10 million rows in minutes, not hours.

Rows are spread evenly over the past ``days`` days (up to an hour ago), into the daily
partitions the production function creates; every row is a small processed webhook with its
``webhook_digest`` row (``sha256(body)``), as retention would leave them. Each chunk's digests
are inserted in key order, so the digest index grows by ascending runs rather than random
inserts; chunks run on two sessions at once (two cores).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

DEFAULT_DAYS = 30
DEFAULT_BODY_BYTES = 200
FILL_STATEMENT_TIMEOUT = "60min"

_PARTITIONS = """
SELECT wapipe_ensure_webhook_log_partitions(
    (now() AT TIME ZONE 'UTC')::date - %(days)s, %(days)s + 1)
"""

# received_at runs from ``days`` ago to an hour ago, oldest first (ids follow time). The
# digests of a chunk go in sorted, so the digest index sees ascending runs, not random keys.
_CHUNK = """
WITH logged AS (
    INSERT INTO webhook_log (id, received_at, sha256, body, status, events_total, events_open,
                             events_dead, split_attempts, split_at, finished_at)
    SELECT g, ts, sha256(b), b, 'processed', 1, 0, 0, 1, ts, ts
      FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g,
           LATERAL (SELECT now() - interval '1 hour'
                           - make_interval(secs => %(span)s * (%(rows)s - g) / %(rows)s::float8)
                           AS ts,
                           convert_to(rpad('{"object":"whatsapp_business_account","entry":[{"id":"'
                                           || g || '","changes":[]}],"pad":"', %(body)s - 2, 'x')
                                      || '"}', 'UTF8') AS b) AS row
    RETURNING sha256, id, received_at
)
INSERT INTO webhook_digest (sha256, webhook_id, received_at)
SELECT sha256, id, received_at FROM logged ORDER BY sha256
"""

DEFAULT_CHUNK_ROWS = 500_000
DEFAULT_SESSIONS = 2


def chunk_bounds(rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    """Inclusive id ranges ``(first, last)`` covering 1..rows, each at most ``chunk_rows``."""
    if rows < 1 or chunk_rows < 1:
        raise ValueError("rows and chunk_rows must be positive")
    return [(first, min(first + chunk_rows - 1, rows)) for first in range(1, rows + 1, chunk_rows)]


@dataclass(frozen=True, slots=True)
class FillReport:
    rows: int
    days: int
    partitions_created: int
    sessions: int
    insert_s: float
    vacuum_s: float
    settle_s: float  # CHECKPOINT and OS write-back of the bulk load
    total_s: float
    webhook_log_bytes: int
    webhook_digest_bytes: int


def fill_parameters(
    rows: int, days: int = DEFAULT_DAYS, body_bytes: int = DEFAULT_BODY_BYTES
) -> dict[str, object]:
    """The parameters shared by every chunk of a fill."""
    if rows < 1:
        raise ValueError("rows must be positive")
    if days < 1:
        raise ValueError("days must be positive")
    if body_bytes < 64:
        raise ValueError("bodies must be at least 64 bytes")
    return {
        "rows": rows,
        "span": float(days * 86_400 - 2 * 3_600),
        "body": body_bytes,
        "days": days,
    }


def _session(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(database_url, autocommit=True, connect_timeout=5)
    # Settings of this bulk-load session only; the server's configuration is untouched.
    conn.execute(f"SET statement_timeout = '{FILL_STATEMENT_TIMEOUT}'")
    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET maintenance_work_mem = '256MB'")
    return conn


def _run_parallel(
    database_url: str,
    sessions: int,
    jobs: list[tuple[str, dict[str, object]]],
    on_done: Callable[[int], None] | None = None,
) -> None:
    """Run the ``(statement, params)`` jobs on ``sessions`` connections at once;
    ``on_done(n)`` after each, with the number of jobs finished so far."""
    pending = list(reversed(jobs))
    finished = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        with _session(database_url) as conn:
            while True:
                with lock:
                    if not pending or errors:
                        return
                    statement, params = pending.pop()
                try:
                    conn.execute(statement.encode(), params)
                except BaseException as error:
                    with lock:
                        errors.append(error)
                    raise
                with lock:
                    finished[0] += 1
                    done = finished[0]
                if on_done is not None:
                    on_done(done)

    threads = [threading.Thread(target=work, name=f"bench-fill-{n}") for n in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def fill_webhook_log(
    database_url: str,
    rows: int,
    *,
    days: int = DEFAULT_DAYS,
    sessions: int = DEFAULT_SESSIONS,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> FillReport:
    """Fill and vacuum; ``progress(rows_so_far)`` after each chunk."""
    params = fill_parameters(rows, days)
    started = time.monotonic()
    with _session(database_url) as conn:
        row = conn.execute(_PARTITIONS, params).fetchone()
        created = int(str(row[0])) if row else 0
    chunks = [
        (_CHUNK, {**params, "first": first, "last": last})
        for first, last in chunk_bounds(rows, chunk_rows)
    ]
    per_chunk = min(chunk_rows, rows)
    _run_parallel(
        database_url,
        sessions,
        chunks,
        None if progress is None else lambda done: progress(min(rows, done * per_chunk)),
    )
    with _session(database_url) as conn:
        conn.execute("SELECT setval('webhook_log_id_seq', %s)", (rows,))
        partitions = [
            str(name)
            for (name,) in conn.execute(
                "SELECT inhrelid::regclass::text FROM pg_inherits"
                " WHERE inhparent = 'webhook_log'::regclass"
            ).fetchall()
        ]
    inserted = time.monotonic()
    # Without this, autovacuum would visit the new rows during the measurement.
    vacuums: list[tuple[str, dict[str, object]]] = [
        (f'VACUUM (ANALYZE) "{name}"', {}) for name in [*partitions, "webhook_digest"]
    ]
    _run_parallel(database_url, sessions, vacuums)
    with _session(database_url) as conn:
        conn.execute("ANALYZE webhook_log")
        sizes = conn.execute(
            "SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            "         WHERE inhparent = 'webhook_log'::regclass),"
            " pg_total_relation_size('webhook_digest')"
        ).fetchone()
    vacuumed = time.monotonic()
    # The load leaves gigabytes of dirty pages: written back during the measurement, they
    # would slow every commit's WAL flush — a cost of this benchmark's bulk load, not of
    # ingesting with history. CHECKPOINT is the server's own routine operation.
    with _session(database_url) as conn:
        conn.execute("CHECKPOINT")
    os.sync()
    settled = time.monotonic()
    return FillReport(
        rows=rows,
        days=days,
        partitions_created=created,
        sessions=sessions,
        insert_s=round(inserted - started, 1),
        vacuum_s=round(vacuumed - inserted, 1),
        settle_s=round(settled - vacuumed, 1),
        total_s=round(settled - started, 1),
        webhook_log_bytes=int(str(sizes[0] or 0)) if sizes else 0,
        webhook_digest_bytes=int(str(sizes[1] or 0)) if sizes else 0,
    )
