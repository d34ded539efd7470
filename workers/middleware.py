"""Dramatiq middleware: durable dead letters for what Dramatiq itself gives up on, the relay."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq

from adapters import events as event_rows
from adapters import webhook_log
from adapters.postgres import Conn, translate_db_errors
from adapters.queue import PROCESS_ACTOR, SPLIT_ACTOR, SPLIT_BATCH_ACTOR
from domain.errors import DependencyUnavailable
from runtime.bootstrap import WorkerDeps
from runtime.metrics import worker as metrics
from workers.relay import RelayThread

log = logging.getLogger(__name__)


class DurableDeadLetters(dramatiq.Middleware):
    """Copy every message Dramatiq dead-letters into Postgres (its Redis set expires in 7 days).

    Runs on ``after_nack``: retries exhausted at the broker level, or an actor ``throws``. The
    dead-letter functions only act on rows that are still open, so a message our own code
    already dead-lettered is not recorded twice.
    """

    def __init__(self, deps: WorkerDeps) -> None:
        self._deps = deps

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        if not message.args:
            return
        first = message.args[0]
        # A batch message (one per ingest batch) names several webhooks.
        ids = [int(i) for i in first] if isinstance(first, list) else [int(first)]
        error = str(message.options.get("traceback") or "dead-lettered by the broker")
        try:
            with translate_db_errors(), self._deps.pool.connection() as conn, conn.transaction():
                for item_id in ids:
                    self._dead_letter(conn, message.actor_name, item_id, error)
        except DependencyUnavailable:
            # The rows stay open; the relay re-enqueues them and the attempt counters end them.
            log.warning(
                "could not record a dead letter; the relay will bring it back",
                extra={"actor": message.actor_name, "ids": ids[:20]},
            )

    @staticmethod
    def _dead_letter(conn: Conn, actor_name: str, item_id: int, error: str) -> None:
        if actor_name == PROCESS_ACTOR:
            event = event_rows.load_event(conn, item_id)
            progress = event_rows.dead_letter_event(
                conn, item_id, reason="broker_dead_letter", error=error
            )
            if event is not None and progress is not None:
                metrics.EVENTS.labels(metrics.known_field(event.field), "dead").inc()
        elif actor_name in (SPLIT_ACTOR, SPLIT_BATCH_ACTOR):
            webhook = webhook_log.load_webhook(conn, item_id)
            if webhook is not None:
                webhook_log.dead_letter_webhook(
                    conn, webhook, reason="broker_dead_letter", error=error
                )


class Relay(dramatiq.Middleware):
    """Starts the relay thread in each worker process."""

    def __init__(self, deps: WorkerDeps) -> None:
        self._deps = deps
        self._thread: RelayThread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._thread = RelayThread(self._deps)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread.join(timeout=10)
            self._thread = None
