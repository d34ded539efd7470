"""The broker gate after the commit: no enqueue failure reaches the writer (SPEC §5.4).

An outage (``DependencyUnavailable``) pauses the broker for a cooldown; any other error is a
bug: counted and logged with its traceback, with no cooldown. Either way ``send`` returns, as
the rows are committed and the relay delivers them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import pytest

from domain.errors import DependencyUnavailable
from ingress.ingest import BrokerGate
from runtime.metrics import ingress as metrics

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeEnqueue:
    """Stands in for ``enqueue_webhooks``: raises ``error`` while it is set, records the rest."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.calls = 0
        self.sent: list[int] = []

    def __call__(self, webhook_ids: Sequence[int]) -> int:
        self.calls += 1
        if self.error is not None:
            raise self.error
        self.sent.extend(webhook_ids)
        return len(webhook_ids)


@pytest.fixture
def enqueue() -> FakeEnqueue:
    return FakeEnqueue()


@pytest.fixture
def gate(enqueue: FakeEnqueue) -> Iterator[BrokerGate]:
    gate = BrokerGate(enqueue)
    yield gate
    gate.close()


def enqueue_failures() -> float:
    return metrics.REGISTRY.get_sample_value("wapipe_enqueue_failures_total") or 0.0


def broker_up() -> float | None:
    return metrics.REGISTRY.get_sample_value("wapipe_dependency_up", {"dependency": "broker"})


async def test_an_unexpected_enqueue_error_is_counted_and_logged_not_raised(
    gate: BrokerGate, enqueue: FakeEnqueue, caplog: pytest.LogCaptureFixture
):
    await gate.send([1])  # the broker answered: the gauge reads up
    enqueue.error = TypeError("Object of type set is not JSON serializable")
    failures = enqueue_failures()

    await gate.send([2, 3, 4])

    assert enqueue_failures() == failures + 3
    [record] = [r for r in caplog.records if r.name == "ingress.ingest"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "enqueue failed unexpectedly; the relay will deliver these webhooks"
    )
    assert record.exc_info is not None
    assert record.exc_info[1] is enqueue.error
    assert broker_up() == 1  # a bug is not an outage


async def test_after_a_bug_the_next_batch_goes_to_the_broker_at_once(
    gate: BrokerGate, enqueue: FakeEnqueue
):
    enqueue.error = RuntimeError("a bug")
    await gate.send([5])
    enqueue.error = None

    await gate.send([6])

    assert enqueue.calls == 2  # no cooldown skipped it
    assert enqueue.sent == [6]
    assert broker_up() == 1


async def test_an_outage_pauses_the_broker_for_the_cooldown(
    gate: BrokerGate, enqueue: FakeEnqueue, caplog: pytest.LogCaptureFixture
):
    enqueue.error = DependencyUnavailable("broker: ConnectionError")
    failures = enqueue_failures()

    await gate.send([7, 8])
    enqueue.error = None
    await gate.send([9])  # within the cooldown: not even tried

    assert enqueue.calls == 1
    assert enqueue.sent == []
    assert enqueue_failures() == failures + 3
    assert broker_up() == 0
    [record] = [r for r in caplog.records if r.name == "ingress.ingest"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None  # expected, so no traceback


async def test_a_batch_of_duplicates_sends_nothing(gate: BrokerGate, enqueue: FakeEnqueue):
    await gate.send([])
    assert enqueue.calls == 0
