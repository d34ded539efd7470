"""The relay re-enqueues what the broker lost, never what a live worker holds."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker

from adapters.queue import EVENTS_QUEUE, WEBHOOKS_QUEUE
from domain.errors import DependencyUnavailable
from runtime.bootstrap import WorkerDeps
from tests.builders import text_message
from tests.integration.workers.conftest import StoreWebhook, queued_ids
from workers.processing import split_webhook
from workers.relay import relay_interval, relay_once


def expire_leases(db: psycopg.Connection[Any]) -> None:
    db.execute("UPDATE webhook_log SET due_at = now() - interval '1 s' WHERE due_at IS NOT NULL")
    db.execute("UPDATE event SET due_at = now() - interval '1 s' WHERE due_at IS NOT NULL")


def test_a_webhook_whose_enqueue_was_lost_is_enqueued_once_its_lease_passes(
    deps: WorkerDeps,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
    stub_broker: StubBroker,
):
    webhook_id = store_webhook(text_message())
    assert relay_once(deps) == (0, 0)  # lease not passed yet
    expire_leases(db)
    assert relay_once(deps) == (1, 0)
    assert queued_ids(stub_broker, WEBHOOKS_QUEUE) == [webhook_id]
    # Its lease moved forward: the next pass does not send it again.
    assert relay_once(deps) == (0, 0)
    due = db.execute(
        "SELECT due_at > now() FROM webhook_log WHERE id = %s", (webhook_id,)
    ).fetchone()
    assert due == (True,)


def test_open_events_past_their_lease_are_enqueued_and_finished_ones_are_not(
    deps: WorkerDeps,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
    stub_broker: StubBroker,
):
    first = split_webhook(deps, store_webhook(text_message()))
    second = split_webhook(deps, store_webhook(text_message()))
    stub_broker.flush_all()
    db.execute("UPDATE event SET status = 'processed', due_at = NULL WHERE id = %s", (second[0],))
    expire_leases(db)
    assert relay_once(deps) == (0, 1)
    assert queued_ids(stub_broker, EVENTS_QUEUE) == first


def test_an_event_a_live_worker_holds_is_skipped(
    deps: WorkerDeps,
    db: psycopg.Connection[Any],
    database_url: str,
    store_webhook: StoreWebhook,
    stub_broker: StubBroker,
):
    (event_id,) = split_webhook(deps, store_webhook(text_message()))
    stub_broker.flush_all()
    expire_leases(db)
    with psycopg.connect(database_url) as worker, worker.transaction():
        worker.execute("SELECT 1 FROM event WHERE id = %s FOR UPDATE", (event_id,))
        assert relay_once(deps) == (0, 0)
    assert relay_once(deps) == (0, 1)


def test_a_retrying_event_is_not_due_before_its_next_attempt_plus_the_lease(
    deps: WorkerDeps,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
    stub_broker: StubBroker,
):
    (event_id,) = split_webhook(deps, store_webhook(text_message()))
    stub_broker.flush_all()
    db.execute(
        "UPDATE event SET status = 'retrying', next_attempt_at = now() + interval '10 min',"
        " due_at = now() + interval '10 min 30 s' WHERE id = %s",
        (event_id,),
    )
    assert relay_once(deps) == (0, 0)


def test_a_broker_outage_leaves_the_rows_due_for_the_next_pass(
    deps: WorkerDeps,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
    monkeypatch: pytest.MonkeyPatch,
):
    store_webhook(text_message())
    expire_leases(db)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(deps.broker, "enqueue", refuse)
    with pytest.raises(DependencyUnavailable):
        relay_once(deps)
    row = db.execute("SELECT status, due_at > now() FROM webhook_log").fetchone()
    assert row == ("received", True)


@pytest.mark.parametrize(("lease", "interval"), [(30, 5.0), (3, 1.0), (1, 1 / 3), (0, 0.2)])
def test_the_relay_looks_a_few_times_per_lease(lease: int, interval: float):
    assert relay_interval(lease) == pytest.approx(interval)
