"""Dramatiq middleware: durable dead letters for what Dramatiq itself gives up on, the relay."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq

from adapters import events as event_rows
from adapters import webhook_log
from adapters.postgres import translate_db_errors
from adapters.queue import PROCESS_ACTOR, SPLIT_ACTOR
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
        item_id = int(message.args[0]) if message.args else None
        if item_id is None:
            return
        error = str(message.options.get("traceback") or "dead-lettered by the broker")
        try:
            with translate_db_errors(), self._deps.pool.connection() as conn, conn.transaction():
                if message.actor_name == PROCESS_ACTOR:
                    event = event_rows.load_event(conn, item_id)
                    progress = event_rows.dead_letter_event(
                        conn, item_id, reason="broker_dead_letter", error=error
                    )
                    if event is not None and progress is not None:
                        metrics.EVENTS.labels(metrics.known_field(event.field), "dead").inc()
                elif message.actor_name == SPLIT_ACTOR:
                    webhook = webhook_log.load_webhook(conn, item_id)
                    if webhook is not None:
                        webhook_log.dead_letter_webhook(
                            conn, webhook, reason="broker_dead_letter", error=error
                        )
        except DependencyUnavailable:
            # The row stays open; the relay re-enqueues it and the attempt counter ends it.
            log.warning(
                "could not record a dead letter; the relay will bring it back",
                extra={"actor": message.actor_name, "id": item_id},
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
