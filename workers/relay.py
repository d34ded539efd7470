"""The relay: re-enqueue webhooks and events whose lease passed without an outcome.

Covers what the broker cannot: an enqueue that failed while Redis was down, a retry whose
re-enqueue failed (Dramatiq logs and acks it), a worker killed mid-event. Rows are taken with
FOR UPDATE SKIP LOCKED, so any number of relays (one per worker process) share the work, and
an event a live worker is processing (its row is locked) is never re-enqueued under it.
"""

from __future__ import annotations

import logging
import threading

from adapters import events as event_rows
from adapters import webhook_log
from adapters.postgres import translate_db_errors
from adapters.queue import enqueue_events, enqueue_webhooks
from domain.errors import DependencyUnavailable
from runtime.bootstrap import WorkerDeps
from runtime.metrics import worker as metrics

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500


def relay_interval(lease_seconds: int) -> float:
    """How often the relay looks: a few times per lease, at most every 5 s."""
    return max(0.2, min(5.0, lease_seconds / 3))


def relay_once(deps: WorkerDeps, *, batch: int = DEFAULT_BATCH) -> tuple[int, int]:
    """One pass; returns (webhooks, events) re-enqueued.

    Raises:
        DependencyUnavailable: Postgres or the broker failed; the rows stay due.
    """
    lease = deps.settings.relay_lease_seconds
    with translate_db_errors(), deps.pool.connection() as conn:
        with conn.transaction():
            webhooks = webhook_log.claim_due_webhooks(conn, lease_seconds=lease, limit=batch)
        with conn.transaction():
            events = event_rows.claim_due_events(conn, lease_seconds=lease, limit=batch)
    # The leases were pushed before enqueueing: a failed enqueue waits one more lease.
    try:
        enqueue_webhooks(deps.broker, webhooks)
        enqueue_events(deps.broker, events)
    except DependencyUnavailable:
        metrics.WORKER_ENQUEUE_FAILURES.inc()
        raise
    if webhooks:
        metrics.RELAY_REQUEUED.labels("webhook").inc(len(webhooks))
    if events:
        metrics.RELAY_REQUEUED.labels("event").inc(len(events))
    if webhooks or events:
        log.info("relay re-enqueued", extra={"webhooks": len(webhooks), "events": len(events)})
    return len(webhooks), len(events)


class RelayThread(threading.Thread):
    """Runs ``relay_once`` every few seconds."""

    def __init__(self, deps: WorkerDeps) -> None:
        super().__init__(name="wapipe-relay", daemon=True)
        self._deps = deps
        self._stop_event = threading.Event()
        self._interval = relay_interval(deps.settings.relay_lease_seconds)

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            try:
                sent = DEFAULT_BATCH
                while sent >= DEFAULT_BATCH:  # a full batch: more may be due right now
                    sent = sum(relay_once(self._deps))
            except DependencyUnavailable as error:
                log.warning("relay pass failed; will retry", extra={"error": str(error)})
            except Exception:  # the relay must outlive any single bad pass
                log.exception("relay pass crashed; will retry")
