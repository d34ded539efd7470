"""Overload: a stalled Postgres costs 503s with Retry-After at once, not memory (SPEC §5, §14).

The ingest pipeline holds at most ``INGEST_MAX_PENDING`` bodies (and
``INGEST_MAX_PENDING_BYTES``) waiting for a commit. Beyond that a signed POST is refused at
once: nothing was promised, Meta retries. Every 200 still means committed. With every ingest
writer gone, ``/readyz`` is ``not_ready`` and POSTs are refused at once rather than after the
append timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from adapters.queue import EVENTS_QUEUE, WEBHOOKS_QUEUE
from ingress.ingest import DEFAULT_APPEND_TIMEOUT_S, DEFAULT_WRITERS, IngestPipeline
from ingress.state import IngressState
from runtime.metrics import ingress as metrics
from runtime.settings import Settings
from tests.builders import text_message, wire_bytes
from tests.integration.ingress.harness import (
    LogWatch,
    post_signed,
    received,
    running_ingress_app,
)

pytestmark = pytest.mark.anyio

MAX_PENDING = 8
#: Well under the append timeout: an answer this fast was not a commit that timed out.
PROMPT_S = DEFAULT_APPEND_TIMEOUT_S / 4


def refused(reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value("wapipe_ingest_refused_total", {"reason": reason})
    return value or 0.0


def pipeline_of(app: Any) -> IngestPipeline:
    state: IngressState = app.state.ingress
    return state.pipeline


@pytest.fixture
def lock_conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of the test's own; a lock taken in its transaction stalls the ingress's
    INSERTs until ``rollback`` (always rolled back on the way out)."""
    conn = psycopg.connect(database_url)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def stall_inserts(conn: psycopg.Connection[Any]) -> None:
    # The batch INSERT takes ROW EXCLUSIVE on webhook_digest, which SHARE blocks.
    conn.execute("LOCK TABLE webhook_digest IN SHARE MODE")


async def wait_for(condition: Callable[[], bool], timeout: float = PROMPT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_with_postgres_stalled_posts_beyond_the_bound_get_503_at_once_and_200s_commit(
    make_settings: Callable[..., Settings], log: LogWatch, lock_conn: psycopg.Connection[Any]
):
    settings = make_settings(INGEST_MAX_PENDING=str(MAX_PENDING))
    async with running_ingress_app(settings) as (client, app):
        pipeline = pipeline_of(app)
        warm = wire_bytes(text_message())  # the pool's connections exist before the stall
        assert (await post_signed(client, warm)).status_code == 200
        unavailable, queue_full = received("unavailable"), refused("queue_full")

        # Given Postgres stalled on every insert,
        stall_inserts(lock_conn)
        bodies = [wire_bytes(text_message()) for _ in range(5 * MAX_PENDING)]
        started = time.monotonic()
        # when more signed webhooks arrive together than the pipeline may hold,
        posts = [asyncio.create_task(post_signed(client, body)) for body in bodies]
        await wait_for(lambda: sum(task.done() for task in posts) == len(bodies) - MAX_PENDING)
        refused_within = time.monotonic() - started

        # then those beyond the bound are answered 503 + Retry-After at once, during the stall,
        early = [task.result() for task in posts if task.done()]
        assert {answer.status_code for answer in early} == {503}
        for answer in early:
            assert answer.json() == {"error": "unavailable", "detail": "ingest overloaded"}
            assert int(answer.headers["Retry-After"]) > 0
        assert refused_within < PROMPT_S
        assert pipeline.pending == MAX_PENDING
        assert received("unavailable") == unavailable + len(early)
        assert refused("queue_full") == queue_full + len(early)

        # and once the stall ends, those it held are committed and acknowledged.
        lock_conn.rollback()
        answers = await asyncio.gather(*posts)
    statuses = [answer.status_code for answer in answers]
    assert sorted(set(statuses)) == [200, 503]
    assert statuses.count(200) == MAX_PENDING
    for body, answer in zip(bodies, answers, strict=True):
        stored = log.row(body)
        if answer.status_code == 200:
            assert stored is not None, "answered 200 but not in the log"
            assert stored.body == body
        else:
            assert stored is None, "answered 503 but stored"
    assert log.added() == (1 + MAX_PENDING, 1 + MAX_PENDING)


async def test_a_long_stall_holds_no_more_than_the_bound_however_many_posts_arrive(
    make_settings: Callable[..., Settings], log: LogWatch, lock_conn: psycopg.Connection[Any]
):
    body_size = 16 * 1024
    max_bytes = 64 * 1024  # four bodies' worth, under the count bound: the bytes bind
    settings = make_settings(
        INGEST_MAX_PENDING=str(MAX_PENDING), INGEST_MAX_PENDING_BYTES=str(max_bytes)
    )
    async with running_ingress_app(settings) as (client, app):
        pipeline = pipeline_of(app)
        assert (await post_signed(client, wire_bytes(text_message()))).status_code == 200
        stall_inserts(lock_conn)

        def padded() -> bytes:
            payload = text_message()
            payload["padding"] = "p" * body_size
            return wire_bytes(payload)

        held = [asyncio.create_task(post_signed(client, padded())) for _ in range(3)]
        await wait_for(lambda: pipeline.pending == 3)
        # Wave after wave while the stall lasts: each is refused at once and nothing grows.
        for _ in range(10):
            wave = await asyncio.wait_for(
                asyncio.gather(*(post_signed(client, padded()) for _ in range(20))), PROMPT_S
            )
            assert {answer.status_code for answer in wave} == {503}
            assert pipeline.pending == 3
            assert pipeline.pending_bytes <= max_bytes

        lock_conn.rollback()
        assert [answer.status_code for answer in await asyncio.gather(*held)] == [200] * 3
        await wait_for(lambda: pipeline.pending == 0)
        assert pipeline.pending_bytes == 0
    assert log.added() == (4, 4)


class FatalError(BaseException):
    """Not an ``Exception``: what no writer survives (nothing in our code raises one)."""


class FatalBroker(StubBroker):
    """A broker whose enqueue raises ``FatalError``: each writer that commits a batch dies."""

    def __init__(self) -> None:
        super().__init__(middleware=[])
        for queue in (WEBHOOKS_QUEUE, EVENTS_QUEUE):
            self.declare_queue(queue)

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        raise FatalError("the writer ends here")


async def assert_refused_for_want_of_writers(client: httpx.AsyncClient, log: LogWatch) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not_ready",
        "checks": {"postgres": "ok", "broker": "ok", "writers": "down"},
    }
    writers_down = refused("writers_down")
    body = wire_bytes(text_message())
    answer = await asyncio.wait_for(post_signed(client, body), PROMPT_S)
    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable"
    assert int(answer.headers["Retry-After"]) > 0
    assert refused("writers_down") == writers_down + 1
    assert log.row(body) is None


async def test_when_every_writer_has_crashed_readiness_fails_and_posts_are_refused_at_once(
    make_settings: Callable[..., Settings], log: LogWatch, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.ERROR, logger="ingress.ingest")
    async with running_ingress_app(make_settings(), broker=FatalBroker()) as (client, app):
        pipeline = pipeline_of(app)
        ready = await client.get("/readyz")
        assert ready.json()["checks"]["writers"] == "ok"
        bodies = [wire_bytes(text_message()) for _ in range(DEFAULT_WRITERS)]
        # One batch per writer, each committed (so answered 200) and then fatal to its writer.
        for body in bodies:
            answer = await asyncio.wait_for(post_signed(client, body), PROMPT_S)
            assert answer.status_code == 200
            assert log.row(body) is not None
        await wait_for(lambda: pipeline.writers_alive == 0)

        await assert_refused_for_want_of_writers(client, log)
    stopped = [r for r in caplog.records if r.getMessage() == "ingest writer stopped"]
    assert len(stopped) == DEFAULT_WRITERS
    assert all(r.exc_info and r.exc_info[0] is FatalError for r in stopped)
    assert log.added() == (DEFAULT_WRITERS, DEFAULT_WRITERS)


async def test_when_the_writers_are_cancelled_readiness_fails_and_posts_are_refused_at_once(
    make_settings: Callable[..., Settings], log: LogWatch
):
    async with running_ingress_app(make_settings()) as (client, app):
        pipeline = pipeline_of(app)
        writers = [t for t in asyncio.all_tasks() if t.get_name().startswith("ingest-writer-")]
        assert len(writers) == DEFAULT_WRITERS
        for task in writers:
            task.cancel()
        await wait_for(lambda: pipeline.writers_alive == 0)

        await assert_refused_for_want_of_writers(client, log)
    assert log.added() == (0, 0)
