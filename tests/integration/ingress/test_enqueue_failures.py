"""An enqueue that fails for a reason other than an outage (a bug) costs no 200 and no writer.

The rows are committed before the enqueue, so their requests are still acknowledged and the
relay delivers them (SPEC §5.4); the failure is counted and logged with its traceback. The
writers carry on: later requests are answered at once, not after the append timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from adapters.postgres import create_async_pool
from adapters.queue import EVENTS_QUEUE, WEBHOOKS_QUEUE
from adapters.webhook_log import RawWebhook
from ingress.ingest import DEFAULT_APPEND_TIMEOUT_S, DEFAULT_WRITERS, BrokerGate, IngestPipeline
from runtime.logging import JsonFormatter
from runtime.metrics import ingress as metrics
from runtime.settings import Settings
from tests.builders import APP_SECRET, text_message, wire_bytes
from tests.integration.ingress.harness import (
    LogWatch,
    counter,
    post_signed,
    received,
    running_ingress,
)

pytestmark = pytest.mark.anyio

CONCURRENT_POSTS = 3 * DEFAULT_WRITERS  # several batches at once, on every writer
# Well under the append timeout: a request left unanswered by a dead writer would only be
# answered (503) when that timeout passes, so an answer within this bound came from a writer.
PROMPT_S = DEFAULT_APPEND_TIMEOUT_S / 2

T = TypeVar("T")


async def promptly(answer: Awaitable[T]) -> T:
    async with asyncio.timeout(PROMPT_S):
        return await answer


class BuggyBroker(StubBroker):
    """A StubBroker with a bug in its enqueue path (``error_type`` raised) while ``failing``."""

    def __init__(self, error_type: type[Exception]) -> None:
        super().__init__(middleware=[])
        for queue in (WEBHOOKS_QUEUE, EVENTS_QUEUE):
            self.declare_queue(queue)
        self.error_type = error_type
        self.failing = True
        self.refused = 0

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        if self.failing:
            self.refused += 1
            raise self.error_type("a bug in the enqueue path")
        return super().enqueue(message, delay=delay)

    def queued_ids(self, queue: str) -> list[int]:
        """The webhook ids the queued messages name (a batch message names several)."""
        ids: list[int] = []
        for data in list(self.queues[queue].queue):
            arg = Message.decode(data).args[0]
            ids.extend(arg if isinstance(arg, list) else [arg])
        return [int(i) for i in ids]


def error_records(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "ingress.ingest"
        and record.levelno == logging.ERROR
        and record.getMessage() == message
    ]


def dependency_up(name: str) -> float | None:
    return metrics.REGISTRY.get_sample_value("wapipe_dependency_up", {"dependency": name})


@pytest.mark.parametrize("error_type", [RuntimeError, TypeError])
async def test_an_unexpected_enqueue_error_still_acknowledges_every_committed_webhook(
    make_settings: Callable[..., Settings],
    log: LogWatch,
    caplog: pytest.LogCaptureFixture,
    error_type: type[Exception],
):
    caplog.set_level(logging.ERROR, logger="ingress.ingest")
    broker = BuggyBroker(error_type)
    async with running_ingress(make_settings(), broker=broker) as client:
        failures = counter("wapipe_enqueue_failures_total")
        unavailable = received("unavailable")
        bodies = [wire_bytes(text_message()) for _ in range(CONCURRENT_POSTS)]

        # Given a broker whose enqueue raises a bug, when webhooks arrive together,
        answers = await promptly(asyncio.gather(*(post_signed(client, body) for body in bodies)))

        # then each is acknowledged, committed with a due_at for the relay, and counted.
        assert [answer.status_code for answer in answers] == [200] * CONCURRENT_POSTS
        assert {answer.json()["status"] for answer in answers} == {"accepted"}
        for body in bodies:
            row = log.row(body)
            assert row is not None, "answered 200 but not in the log"
            assert row.body == body
            assert row.status == "received"
            assert row.due_at is not None
        assert broker.refused >= 1
        assert counter("wapipe_enqueue_failures_total") == failures + CONCURRENT_POSTS
        # A bug is not an outage: the broker is not reported down.
        assert dependency_up("broker") == 1

        # It was logged with its traceback, and without a secret.
        logged = error_records(
            caplog, "enqueue failed unexpectedly; the relay will deliver these webhooks"
        )
        assert logged
        for record in logged:
            assert record.exc_info is not None
            assert record.exc_info[0] is error_type
            assert APP_SECRET not in JsonFormatter().format(record)

        # The writers survived: one batch after another, more batches than there are writers
        # (each would have killed one), all answered promptly while the bug persists.
        for _ in range(DEFAULT_WRITERS + 1):
            answer = await promptly(post_signed(client, wire_bytes(text_message())))
            assert answer.status_code == 200

        # Once enqueue works again the wake-up goes out at once (a bug sets no cooldown).
        broker.failing = False
        body = wire_bytes(text_message())
        assert (await promptly(post_signed(client, body))).status_code == 200
        row = log.row(body)
        assert row is not None
        assert broker.queued_ids(WEBHOOKS_QUEUE) == [row.id]
        assert received("unavailable") == unavailable
    stored = CONCURRENT_POSTS + DEFAULT_WRITERS + 1 + 1
    assert log.added() == (stored, stored)


class GateWithABug(BrokerGate):
    """A gate whose ``send`` raises after the commit, as a bug past its own guard would."""

    def __init__(self) -> None:
        super().__init__(len)
        self.calls = 0

    async def send(self, webhook_ids: Sequence[int]) -> None:
        self.calls += 1
        raise RuntimeError("a bug after the commit")


@pytest.fixture
def buggy_gate() -> Iterator[GateWithABug]:
    gate = GateWithABug()
    yield gate
    gate.close()


async def test_a_single_writer_outlives_a_failure_after_every_commit(
    database_url: str,
    log: LogWatch,
    buggy_gate: GateWithABug,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.ERROR, logger="ingress.ingest")
    pool = create_async_pool(database_url, name="test-buggy-gate", max_size=1)
    # One writer: if any failure ended it, the next append would wait for the timeout.
    pipeline = IngestPipeline(pool, buggy_gate, relay_lease_seconds=30, writers=1)
    await pool.open(wait=True, timeout=5)
    pipeline.start()
    try:
        raws = [RawWebhook.of(wire_bytes(text_message())) for _ in range(3)]
        for raw in raws:  # one batch each, each failing after its commit
            outcome = await promptly(pipeline.append(raw))
            assert not outcome.duplicate
        together = [RawWebhook.of(wire_bytes(text_message())) for _ in range(8)]
        outcomes = await promptly(asyncio.gather(*(pipeline.append(raw) for raw in together)))
        assert not any(outcome.duplicate for outcome in outcomes)
    finally:
        # Bounded: a dead writer would leave its queue unfinished and ``stop`` waiting forever.
        await promptly(pipeline.stop())
        await pool.close()

    for raw in raws + together:
        row = log.row(raw.body)
        assert row is not None
        assert row.due_at is not None
    assert buggy_gate.calls >= len(raws) + 1
    logged = error_records(caplog, "ingest writer failed on a batch; the writer carries on")
    assert len(logged) == buggy_gate.calls
    assert all(record.exc_info is not None for record in logged)
