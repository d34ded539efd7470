"""``wapipe scheduler``: periodic jobs under one leader, and the database-derived gauges.

Leadership is a Postgres session advisory lock held on a dedicated connection: when the
leader dies its connection closes and another replica takes over at its next try. The gauges
are served by every replica (they only read).

The jobs (``scheduler_jobs``), each run at start-up and then every interval:

- ``partitions`` (hourly): create the ``webhook_log`` partitions a week ahead;
- ``onboarding_expiry`` (every minute): pending onboardings past their TTL → ``expired``;
- ``token_checks`` (hourly): one ``token_check`` job per stored token per UTC day;
- ``log_retention`` (hourly): drop the log partitions older than ``LOG_RETENTION_DAYS``,
  keeping dead-lettered webhooks in ``webhook_archive``. Each partition goes once, so an
  hourly look costs one catalog query, and a partition that was busy is retried within the
  hour instead of a day later.

The scheduler has no broker: the token-check jobs are rows that the relay of the workers
delivers once their lease (``RELAY_LEASE_SECONDS``) has passed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

from adapters.backlog import BacklogCollector, StateCollector
from adapters.events import insert_job
from adapters.migrate import ensure_partitions
from adapters.postgres import Conn, connect, translate_db_errors
from adapters.retention import drop_expired_partitions, expire_onboardings
from adapters.token_store import tokens_for_check
from domain.errors import DependencyUnavailable
from runtime.settings import Settings

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x7761_7069_7065_01  # "wapipe" + scheduler
LEADER_RETRY_S = 10.0
PARTITIONS_INTERVAL_S = 3600.0
ONBOARDING_EXPIRY_INTERVAL_S = 60.0
TOKEN_CHECKS_INTERVAL_S = 3600.0
LOG_RETENTION_INTERVAL_S = 3600.0
#: The worker's job name for a token health check: ``workers.jobs.TOKEN_CHECK``, not imported
#: because that module pulls in the worker's broker and Graph wiring (a test keeps them equal).
TOKEN_CHECK_JOB = "token_check"  # noqa: S105 - a job name, not a secret


@dataclass
class Job:
    name: str
    interval_s: float
    run: Callable[[Conn], object]
    next_run: float = 0.0


def partition_job() -> Job:
    return Job("partitions", PARTITIONS_INTERVAL_S, ensure_partitions)


def onboarding_expiry_job() -> Job:
    return Job("onboarding_expiry", ONBOARDING_EXPIRY_INTERVAL_S, expire_onboardings)


def utc_today() -> date:
    return datetime.now(UTC).date()


def enqueue_token_checks(conn: Conn, *, day: date, lease_seconds: int) -> int:
    """Insert one ``token_check`` job per stored token for ``day``; how many were new.

    The key names the UTC day, so any number of ticks that day enqueue each WABA once (and a
    token stored during the day is picked up by the next tick). One transaction for all.
    """
    created = 0
    with conn.transaction():
        for waba_id in tokens_for_check(conn):
            _, new = insert_job(
                conn,
                field=TOKEN_CHECK_JOB,
                key=f"token_check:{waba_id}:{day.isoformat()}",
                value={"waba_id": waba_id},
                lease_seconds=lease_seconds,
            )
            created += int(new)
    if created:
        log.info("token checks enqueued", extra={"jobs": created, "day": day.isoformat()})
    return created


def token_checks_job(settings: Settings, *, today: Callable[[], date] = utc_today) -> Job:
    def run(conn: Conn) -> int:
        return enqueue_token_checks(conn, day=today(), lease_seconds=settings.relay_lease_seconds)

    return Job("token_checks", TOKEN_CHECKS_INTERVAL_S, run)


def log_retention_job(settings: Settings) -> Job:
    def run(conn: Conn) -> object:
        return drop_expired_partitions(conn, retention_days=settings.log_retention_days)

    return Job("log_retention", LOG_RETENTION_INTERVAL_S, run)


def scheduler_jobs(settings: Settings) -> list[Job]:
    """Every periodic job of ``wapipe scheduler``."""
    return [
        partition_job(),
        onboarding_expiry_job(),
        token_checks_job(settings),
        log_retention_job(settings),
    ]


def metrics_registry(pool: ConnectionPool[Conn]) -> CollectorRegistry:
    """The registry ``wapipe scheduler`` serves: gauges read from Postgres at scrape time."""
    registry = CollectorRegistry()
    registry.register(BacklogCollector(pool))
    registry.register(StateCollector(pool))
    return registry


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

    from prometheus_client import start_http_server

    from adapters.postgres import create_pool
    from runtime.logging import configure_logging

    settings = Settings.from_environ(os.environ)
    settings.require("DATABASE_URL")
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    dsn = str(settings.database_url)
    pool = create_pool(dsn, name="wapipe-scheduler-metrics", max_size=2)
    server, thread = start_http_server(
        settings.scheduler_metrics_port, addr=settings.host, registry=metrics_registry(pool)
    )
    scheduler = Scheduler(dsn, scheduler_jobs(settings))
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
