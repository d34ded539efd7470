"""Group commit on real Postgres: concurrent batches that share bodies all commit (SPEC §5, §14)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.postgres import create_async_pool
from adapters.webhook_log import RawWebhook
from ingress.ingest import BrokerGate, IngestPipeline
from tests.builders import text_message, wire_bytes
from tests.integration.ingress.harness import LogWatch

pytestmark = pytest.mark.anyio

ROUNDS = 25
BODIES_PER_ROUND = 16


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[IngestPipeline, IngestPipeline]]:
    """Two ingress pipelines with one writer each, as two replicas behind a load balancer."""
    pools = [create_async_pool(database_url, name=f"test-replica-{n}", max_size=1) for n in (1, 2)]
    gates = [BrokerGate(len) for _ in pools]  # the broker is not under test: enqueue is a no-op
    pipelines = [
        IngestPipeline(pool, gate, relay_lease_seconds=30, writers=1)
        for pool, gate in zip(pools, gates, strict=True)
    ]
    try:
        for pool in pools:
            await pool.open(wait=True, timeout=5)
        for pipeline in pipelines:
            pipeline.start()
        yield pipelines[0], pipelines[1]
    finally:
        for pipeline in pipelines:
            await pipeline.stop()
        for gate in gates:
            gate.close()
        for pool in pools:
            await pool.close()


async def test_replicas_logging_the_same_redeliveries_in_opposite_orders_all_commit(
    replicas: tuple[IngestPipeline, IngestPipeline], log: LogWatch
):
    first, second = replicas
    for _ in range(ROUNDS):
        raws = [RawWebhook.of(wire_bytes(text_message())) for _ in range(BODIES_PER_ROUND)]
        # All appends queue up before either writer runs: each replica commits one batch, the
        # second in the reverse order of the first. Any failure (a deadlock) raises here.
        outcomes = await asyncio.gather(
            *(first.append(raw) for raw in raws), *(second.append(raw) for raw in reversed(raws))
        )
        by_first = outcomes[:BODIES_PER_ROUND]
        by_second = outcomes[BODIES_PER_ROUND:][::-1]
        for one, other in zip(by_first, by_second, strict=True):
            assert one.duplicate != other.duplicate  # stored once, by exactly one replica
    assert log.added() == (ROUNDS * BODIES_PER_ROUND, ROUNDS * BODIES_PER_ROUND)


async def test_a_batch_holding_one_body_twice_stores_it_once(
    replicas: tuple[IngestPipeline, IngestPipeline], log: LogWatch
):
    pipeline, _ = replicas
    body, other = (
        RawWebhook.of(b"twice-" + wire_bytes(text_message())),
        RawWebhook.of(b"once-" + wire_bytes(text_message())),
    )
    outcomes = await asyncio.gather(
        pipeline.append(body), pipeline.append(other), pipeline.append(body)
    )
    assert [outcome.duplicate for outcome in outcomes] == [False, False, True]
    assert log.body(body.body) == body.body
    assert log.added() == (2, 2)
