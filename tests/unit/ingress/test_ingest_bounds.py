"""The ingest pipeline's bounds, on a fake pool whose statements wait until released.

A stalled Postgres must cost 503s at once beyond ``max_pending`` bodies or
``max_pending_bytes``, never unbounded memory; and with no writer left nothing may wait for
the append timeout.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from adapters.webhook_log import RawWebhook
from ingress.ingest import BrokerGate, IngestOverloaded, IngestPipeline

pytestmark = pytest.mark.anyio

PROMPT_S = 2.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class StalledPostgres:
    """Stands in for the ingress pool: each batch INSERT waits until ``release`` is called,
    then 'commits' every body as new."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.statements = 0
        self._ids = iter(range(1, 1_000_000))

    def release(self) -> None:
        self.released.set()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[StalledPostgres]:
        yield self

    async def execute(self, sql: str, params: dict[str, Any]) -> StalledPostgres._Cursor:
        self.statements += 1
        await self.released.wait()
        return self._Cursor([(digest, next(self._ids)) for digest in params["digests"]])

    class _Cursor:
        def __init__(self, rows: list[tuple[bytes, int]]) -> None:
            self.rows = rows

        async def fetchall(self) -> list[tuple[bytes, int]]:
            return self.rows


@pytest.fixture
def gate() -> Iterator[BrokerGate]:
    gate = BrokerGate(len)
    yield gate
    gate.close()


@asynccontextmanager
async def pipeline_on(
    postgres: StalledPostgres, gate: BrokerGate, **bounds: int
) -> AsyncIterator[IngestPipeline]:
    pipeline = IngestPipeline(cast(Any, postgres), gate, relay_lease_seconds=30, **bounds)
    pipeline.start()
    try:
        yield pipeline
    finally:
        postgres.release()
        await asyncio.wait_for(pipeline.stop(), PROMPT_S)


_serial = itertools.count(1)


def body(size: int = 32) -> RawWebhook:
    """A distinct body of ``size`` bytes."""
    prefix = f"{next(_serial):08d}".encode()
    return RawWebhook.of(prefix + b"x" * max(0, size - len(prefix)))


async def settle() -> None:
    """Let the writers take what is queued."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_beyond_max_pending_bodies_an_append_is_refused_at_once(gate: BrokerGate):
    postgres = StalledPostgres()
    async with pipeline_on(postgres, gate, writers=2, max_pending=3) as pipeline:
        held = [asyncio.create_task(pipeline.append(body())) for _ in range(3)]
        await settle()
        assert pipeline.pending == 3

        with pytest.raises(IngestOverloaded) as refused:
            await asyncio.wait_for(pipeline.append(body()), PROMPT_S)
        assert refused.value.reason == "queue_full"
        assert pipeline.pending == 3

        postgres.release()
        outcomes = await asyncio.wait_for(asyncio.gather(*held), PROMPT_S)
        assert not any(outcome.duplicate for outcome in outcomes)
        assert (pipeline.pending, pipeline.pending_bytes) == (0, 0)
        # Room again once the stall is over.
        assert not (await asyncio.wait_for(pipeline.append(body()), PROMPT_S)).duplicate


async def test_beyond_max_pending_bytes_an_append_is_refused_and_a_smaller_one_fits(
    gate: BrokerGate,
):
    postgres = StalledPostgres()
    async with pipeline_on(postgres, gate, max_pending=100, max_pending_bytes=100) as pipeline:
        first = asyncio.create_task(pipeline.append(body(60)))
        await settle()
        with pytest.raises(IngestOverloaded):
            await pipeline.append(body(60))  # 120 bytes pending would exceed 100
        second = asyncio.create_task(pipeline.append(body(40)))  # exactly 100
        await settle()
        assert (pipeline.pending, pipeline.pending_bytes) == (2, 100)
        postgres.release()
        await asyncio.wait_for(asyncio.gather(first, second), PROMPT_S)
        assert (pipeline.pending, pipeline.pending_bytes) == (0, 0)


async def test_a_body_larger_than_the_byte_bound_is_taken_when_nothing_is_pending(
    gate: BrokerGate,
):
    postgres = StalledPostgres()
    postgres.release()
    async with pipeline_on(postgres, gate, max_pending_bytes=10) as pipeline:
        outcome = await asyncio.wait_for(pipeline.append(body(500)), PROMPT_S)
        assert not outcome.duplicate


async def test_when_the_last_writer_ends_every_waiting_append_is_answered_at_once(
    gate: BrokerGate,
):
    postgres = StalledPostgres()
    async with pipeline_on(postgres, gate, writers=1) as pipeline:
        in_batch = asyncio.create_task(pipeline.append(body()))
        await settle()  # the writer holds it, stalled in its INSERT
        queued = asyncio.create_task(pipeline.append(body()))
        await settle()
        assert pipeline.pending == 2

        (writer,) = [t for t in asyncio.all_tasks() if t.get_name() == "ingest-writer-0"]
        writer.cancel()
        results = await asyncio.wait_for(
            asyncio.gather(in_batch, queued, return_exceptions=True), PROMPT_S
        )

        assert [type(result) for result in results] == [IngestOverloaded, IngestOverloaded]
        assert all(cast(IngestOverloaded, r).reason == "writers_down" for r in results)
        assert (pipeline.writers_alive, pipeline.pending, pipeline.pending_bytes) == (0, 0, 0)
        with pytest.raises(IngestOverloaded) as refused:
            await pipeline.append(body())
        assert refused.value.reason == "writers_down"
