"""CLI fixtures: the real database, the real Redis broker, and a worker that kills events.

Dead letters are made the way production makes them: a webhook row as the ingress stores it,
``split_webhook``, then ``process_event`` with a handler that raises ``PermanentError``. The
workers enqueue on a StubBroker; the CLI builds its own broker from the settings (Redis, the
test's namespace), so what sits in Redis was enqueued by the CLI and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
import psycopg
import pytest
import redis
from dramatiq.brokers.stub import StubBroker

from adapters.queue import EVENTS_QUEUE, WEBHOOKS_QUEUE
from cli.main import main
from domain.errors import PermanentError
from domain.ports import UnitOfWork
from runtime.bootstrap import WorkerDeps, build_worker_deps
from runtime.settings import Settings
from tests.conftest import settings_environ
from tests.effects import record_effect
from tests.storage import store_webhook_row
from workers.change import Change, Outcome
from workers.handlers import HandlerRegistry
from workers.processing import Attempt, process_event, split_webhook


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def environ(database_url: str, redis_url: str, namespace: str) -> dict[str, str]:
    return settings_environ(
        database_url, redis_url, namespace, MAX_ATTEMPTS="3", RELAY_LEASE_SECONDS="30"
    )


@pytest.fixture
def run_cli(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str], db: psycopg.Connection[Any]
) -> Any:
    """``run_cli("dlq", "list", "--json")``: ``main`` in-process; exit code, stdout, stderr."""

    def run(*argv: str, env: dict[str, str] | None = None) -> CliResult:
        capsys.readouterr()  # drop whatever the test printed or logged before
        code = main(list(argv), env or environ)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    broker = StubBroker(middleware=[])
    for queue in (WEBHOOKS_QUEUE, EVENTS_QUEUE):
        broker.declare_queue(queue)
    yield broker
    broker.close()


@pytest.fixture
def deps(
    environ: dict[str, str], stub_broker: StubBroker, db: psycopg.Connection[Any]
) -> Iterator[WorkerDeps]:
    worker_deps = build_worker_deps(
        Settings.from_environ(environ), broker=stub_broker, draw=lambda: 0.0
    )
    worker_deps.pool.wait(timeout=10)
    try:
        yield worker_deps
    finally:
        worker_deps.close()


def reject(change: Change, uow: UnitOfWork) -> Outcome:
    raise PermanentError(f"cannot handle event {change.event_id}", reason="invalid_change")


@dataclass
class Pipeline:
    """The worker side of the tests: store, split and kill events as production does."""

    db: psycopg.Connection[Any]
    deps: WorkerDeps

    def store(self, payload: Any) -> int:
        """A webhook row as the ingress writes it (exact wire bytes, digest); its id."""
        return store_webhook_row(self.db, payload)

    def split(self, webhook_id: int) -> list[int]:
        return split_webhook(self.deps, webhook_id)

    def kill(self, event_id: int) -> int:
        """Process the event with a handler that rejects it; the new dead letter's id."""
        registry = HandlerRegistry(dict.fromkeys(self._fields(), reject))
        assert process_event(self.deps, registry, event_id).outcome is Attempt.DEAD
        row = self.db.execute(
            "SELECT id FROM dead_letter WHERE event_id = %s AND replayed_at IS NULL",
            (event_id,),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def dead_event(self, payload: Any) -> tuple[int, int, int]:
        """A one-change webhook whose event died: (webhook id, event id, dead letter id)."""
        webhook_id = self.store(payload)
        (event_id,) = self.split(webhook_id)
        return webhook_id, event_id, self.kill(event_id)

    def dead_webhook(self, body: bytes) -> tuple[int, int]:
        """A body the worker cannot split: (webhook id, dead letter id)."""
        webhook_id = self.store(body)
        assert self.split(webhook_id) == []
        row = self.db.execute(
            "SELECT id FROM dead_letter WHERE webhook_id = %s AND event_id IS NULL"
            " AND replayed_at IS NULL",
            (webhook_id,),
        ).fetchone()
        assert row is not None
        return webhook_id, int(row[0])

    def process(self, event_id: int, registry: HandlerRegistry) -> Attempt:
        return process_event(self.deps, registry, event_id).outcome

    def _fields(self) -> Sequence[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT field FROM event")]


@pytest.fixture
def pipeline(db: psycopg.Connection[Any], deps: WorkerDeps) -> Pipeline:
    return Pipeline(db, deps)


@pytest.fixture
def broker_queue(redis_url: str, namespace: str) -> Iterator[Any]:
    """``broker_queue(EVENTS_QUEUE)``: the ids of the messages waiting in Redis on a queue."""
    client = redis.Redis.from_url(redis_url)

    def read(queue: str) -> list[int]:
        ids = client.lrange(f"{namespace}:{queue}", 0, -1)
        raw = [client.hget(f"{namespace}:{queue}.msgs", message_id) for message_id in ids]
        return [
            int(dramatiq.Message.decode(data).args[0]) for data in raw if isinstance(data, bytes)
        ]

    try:
        yield read
    finally:
        client.close()


__all__ = ["record_effect"]
