"""The actors on a StubBroker with a real Dramatiq worker: retries, dead letters, nacks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker

from adapters.queue import EVENTS_QUEUE, WEBHOOKS_QUEUE, enqueue_webhook_batch
from domain.ports import UnitOfWork
from runtime.bootstrap import WorkerDeps
from tests.builders import envelope, text_message
from tests.integration.workers.conftest import StoreWebhook
from workers.actors import Actors, register_actors
from workers.broker import attach_pipeline_middleware, base_middleware
from workers.change import Change, Outcome
from workers.handlers import HandlerRegistry
from workers.middleware import DurableDeadLetters


@pytest.fixture
def broker(worker_settings: Any) -> Iterator[StubBroker]:
    stub = StubBroker(middleware=base_middleware(worker_settings, prometheus=False))
    stub.emit_after("process_boot")
    for queue in (WEBHOOKS_QUEUE, EVENTS_QUEUE):
        stub.declare_queue(queue)
    yield stub
    stub.close()


@pytest.fixture
def actor_deps(deps: WorkerDeps, broker: StubBroker) -> WorkerDeps:
    deps.broker = broker
    attach_pipeline_middleware(broker, deps, relay=False)
    return deps


def run_until_idle(broker: StubBroker) -> None:
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=2)
    worker.start()
    try:
        for _ in range(3):  # split fan-out, then retries landing on the delay queues
            broker.join(WEBHOOKS_QUEUE, fail_fast=False, timeout=20_000)
            broker.join(EVENTS_QUEUE, fail_fast=False, timeout=20_000)
            worker.join()
    finally:
        worker.stop()


def register(broker: StubBroker, deps: WorkerDeps, registry: HandlerRegistry) -> Actors:
    return register_actors(broker, deps, registry)


def test_a_webhook_flows_from_split_to_processed_through_the_actors(
    actor_deps: WorkerDeps,
    broker: StubBroker,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
):
    actors = register(
        broker, actor_deps, HandlerRegistry({"messages": lambda change, uow: Outcome.PROCESSED})
    )
    webhook_id = store_webhook(envelope(("messages", {"a": 1}), ("unknown_field", {"b": 2})))
    actors.split_webhook.send(webhook_id)
    run_until_idle(broker)
    assert db.execute("SELECT status FROM webhook_log").fetchone() == ("processed",)
    assert db.execute("SELECT field, status, attempts FROM event ORDER BY id").fetchall() == [
        ("messages", "processed", 1),
        ("unknown_field", "ignored", 1),
    ]


def test_an_ingest_batch_in_one_message_splits_and_processes_every_webhook(
    actor_deps: WorkerDeps,
    broker: StubBroker,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
):
    register(
        broker, actor_deps, HandlerRegistry({"messages": lambda change, uow: Outcome.PROCESSED})
    )
    one_change = [store_webhook(text_message()) for _ in range(3)]
    batched = store_webhook(envelope(("messages", {"a": 1}), ("messages", {"b": 2})))

    sent = enqueue_webhook_batch(broker, [*one_change, batched])
    run_until_idle(broker)

    assert sent == 4
    assert db.execute("SELECT DISTINCT status FROM webhook_log").fetchall() == [("processed",)]
    assert db.execute("SELECT count(*) FROM event WHERE status = 'processed'").fetchone() == (5,)


def test_a_failing_event_is_retried_by_the_broker_then_dead_lettered_in_postgres(
    actor_deps: WorkerDeps,
    broker: StubBroker,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
):
    attempts: list[int] = []

    def flaky(change: Change, uow: UnitOfWork) -> Outcome:
        # The attempt was counted and committed before the handler ran.
        row = db.execute("SELECT attempts FROM event WHERE id = %s", (change.event_id,)).fetchone()
        assert row is not None
        attempts.append(row[0])
        raise ConnectionResetError("peer reset")

    actors = register(broker, actor_deps, HandlerRegistry({"messages": flaky}))
    actors.split_webhook.send(store_webhook(text_message()))
    run_until_idle(broker)
    assert attempts == [1, 2, 3]
    assert db.execute("SELECT status, attempts FROM event").fetchone() == ("dead", 3)
    assert db.execute("SELECT reason, attempts FROM dead_letter").fetchall() == [
        ("max_attempts", 3)
    ]


def test_a_message_dramatiq_dead_letters_is_copied_to_postgres_once(
    actor_deps: WorkerDeps,
    broker: StubBroker,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
):
    actors = register(broker, actor_deps, HandlerRegistry())
    webhook_id = store_webhook(text_message())
    row = db.execute(
        "INSERT INTO event (webhook_id, webhook_received_at, entry_index, change_index, entry_id,"
        " field, value, due_at)"
        " SELECT id, received_at, 0, 0, 'w', 'messages', '{}', now() FROM webhook_log WHERE id = %s"
        " RETURNING id",
        (webhook_id,),
    ).fetchone()
    assert row is not None
    db.execute("UPDATE webhook_log SET status = 'split', events_total = 1, events_open = 1")
    message = actors.process_event.message(row[0])
    middleware = next(m for m in broker.middleware if isinstance(m, DurableDeadLetters))
    proxy = dramatiq.MessageProxy(message)
    proxy.options["traceback"] = "Traceback: worker lost\n"
    middleware.after_nack(broker, proxy)
    middleware.after_nack(broker, proxy)  # Dramatiq and our own path may both report it
    assert db.execute("SELECT reason, error FROM dead_letter").fetchall() == [
        ("broker_dead_letter", "Traceback: worker lost\n")
    ]
    assert db.execute("SELECT status FROM event").fetchone() == ("dead",)
    assert db.execute("SELECT status, events_open, events_dead FROM webhook_log").fetchone() == (
        "dead",
        0,
        1,
    )


def test_a_batch_message_dramatiq_dead_letters_records_each_webhook_still_received(
    actor_deps: WorkerDeps,
    broker: StubBroker,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
):
    actors = register(broker, actor_deps, HandlerRegistry())
    waiting, split = store_webhook(text_message()), store_webhook(text_message())
    db.execute("UPDATE webhook_log SET status = 'split' WHERE id = %s", (split,))
    middleware = next(m for m in broker.middleware if isinstance(m, DurableDeadLetters))
    proxy = dramatiq.MessageProxy(actors.split_webhooks.message([waiting, split]))
    proxy.options["traceback"] = "Traceback: postgres gone\n"

    middleware.after_nack(broker, proxy)

    assert db.execute("SELECT webhook_id, reason FROM dead_letter").fetchall() == [
        (waiting, "broker_dead_letter")
    ]


def test_retry_bounds_are_explicit_not_dramatiqs_thirty_day_default(
    actor_deps: WorkerDeps, broker: StubBroker
):
    actors = register(broker, actor_deps, HandlerRegistry())
    options = actors.process_event.options
    assert options["max_retries"] == actor_deps.settings.retry.max_attempts + 2
    assert options["max_backoff"] == actor_deps.settings.retry.max_backoff_ms
    assert options["min_backoff"] == actor_deps.settings.retry.min_backoff_ms
