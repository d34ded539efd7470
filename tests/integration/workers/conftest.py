"""Worker fixtures: real Postgres, a StubBroker with wapipe's queues, deterministic jitter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker

from adapters.queue import EVENTS_QUEUE, WEBHOOKS_QUEUE
from runtime.bootstrap import WorkerDeps, build_worker_deps
from tests.conftest import SettingsFactory
from tests.storage import store_webhook_row


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    broker = StubBroker()
    broker.emit_after("process_boot")
    for queue in (WEBHOOKS_QUEUE, EVENTS_QUEUE):
        broker.declare_queue(queue)
    yield broker
    broker.close()


@pytest.fixture
def worker_settings(make_settings: SettingsFactory) -> Any:
    return make_settings(
        MAX_ATTEMPTS="3", MIN_BACKOFF_MS="10", MAX_BACKOFF_MS="40", RELAY_LEASE_SECONDS="30"
    )


@pytest.fixture
def deps(
    worker_settings: Any, stub_broker: StubBroker, db: psycopg.Connection[Any]
) -> Iterator[WorkerDeps]:
    worker_deps = build_worker_deps(worker_settings, broker=stub_broker, draw=lambda: 0.0)
    worker_deps.pool.wait(timeout=10)
    yield worker_deps
    worker_deps.close()


StoreWebhook = Callable[[Any], int]


@pytest.fixture
def store_webhook(db: psycopg.Connection[Any]) -> StoreWebhook:
    """Insert a webhook row as the ingress would (wire bytes + digest); its id."""

    def store(payload: Any) -> int:
        return store_webhook_row(db, payload)

    return store


def queued_ids(broker: StubBroker, queue: str) -> list[int]:
    """The ids carried by the messages waiting on ``queue``."""
    from dramatiq import Message

    return [int(Message.decode(data).args[0]) for data in list(broker.queues[queue].queue)]
