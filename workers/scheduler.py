"""``wapipe scheduler``: periodic jobs under one leader, and the database-derived gauges.

Leadership is a Postgres session advisory lock held on a dedicated connection: when the
leader dies its connection closes and another replica takes over at its next try. The gauges
are served by every replica (they only read).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from adapters.migrate import ensure_partitions
from adapters.postgres import Conn, connect, translate_db_errors
from domain.errors import DependencyUnavailable

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x7761_7069_7065_01  # "wapipe" + scheduler
LEADER_RETRY_S = 10.0


@dataclass
class Job:
    name: str
    interval_s: float
    run: Callable[[Conn], object]
    next_run: float = 0.0


def partition_job() -> Job:
    return Job("partitions", 3600.0, ensure_partitions)


class Scheduler:
    def __init__(
        self, dsn: str, jobs: list[Job], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._dsn = dsn
        self._jobs = jobs
        self._clock = clock
        self._stop = threading.Event()
        self._conn: Conn | None = None

    def stop(self) -> None:
        self._stop.set()

    def is_leader(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def try_lead(self) -> bool:
        if self.is_leader():
            return True
        try:
            conn = connect(self._dsn, name="wapipe-scheduler", autocommit=True)
        except DependencyUnavailable:
            return False
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()
        if not row or not row[0]:
            conn.close()
            return False
        log.info("scheduler is the leader")
        self._conn = conn
        return True

    def run_due_jobs(self) -> None:
        assert self._conn is not None
        now = self._clock()
        for job in self._jobs:
            if now < job.next_run:
                continue
            try:
                with translate_db_errors():
                    job.run(self._conn)
            except DependencyUnavailable:
                log.warning(
                    "scheduler lost Postgres; giving up leadership", extra={"job": job.name}
                )
                self._conn.close()
                self._conn = None
                return
            except psycopg.Error:
                log.exception("scheduled job failed", extra={"job": job.name})
            job.next_run = now + job.interval_s

    def run_forever(self, tick_s: float = 1.0) -> None:
        while not self._stop.is_set():
            if self.try_lead():
                self.run_due_jobs()
                self._stop.wait(tick_s)
            else:
                self._stop.wait(LEADER_RETRY_S)
        if self._conn is not None:
            self._conn.close()


def main() -> int:
    """``python -m workers.scheduler`` (started by ``wapipe scheduler``)."""
    import os
    import signal

    from prometheus_client import CollectorRegistry, start_http_server

    from adapters.backlog import BacklogCollector
    from adapters.postgres import create_pool
    from runtime.logging import configure_logging
    from runtime.settings import Settings

    settings = Settings.from_environ(os.environ)
    settings.require("DATABASE_URL")
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    dsn = str(settings.database_url)
    pool = create_pool(dsn, name="wapipe-scheduler-metrics", max_size=2)
    registry = CollectorRegistry()
    registry.register(BacklogCollector(pool))
    server, thread = start_http_server(
        settings.scheduler_metrics_port, addr=settings.host, registry=registry
    )
    scheduler = Scheduler(dsn, [partition_job()])
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scheduler.stop())
    log.info("scheduler started", extra={"metrics_port": settings.scheduler_metrics_port})
    try:
        scheduler.run_forever()
    finally:
        server.shutdown()
        thread.join(timeout=5)
        pool.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
