"""Dependencies going away: Redis down still acknowledges, Postgres down never does (SPEC §13)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.procs import free_port
from ingress.ingest import DEFAULT_APPEND_TIMEOUT_S
from runtime.metrics import ingress as metrics
from runtime.settings import Settings
from tests.builders import sign, text_message, wire_bytes
from tests.integration.ingress.harness import (
    WEBHOOK_PATH,
    LogWatch,
    counter,
    post_signed,
    received,
    running_ingress,
)
from tests.processes import ThrowawayRedis

pytestmark = pytest.mark.anyio


def dependency_up(name: str) -> float | None:
    return metrics.REGISTRY.get_sample_value("wapipe_dependency_up", {"dependency": name})


async def test_with_redis_gone_a_signed_post_is_stored_and_acknowledged(
    make_settings: Callable[..., Settings], log: LogWatch, throwaway_redis: ThrowawayRedis
):
    settings = make_settings(REDIS_URL=throwaway_redis.url)
    async with running_ingress(settings) as client:
        assert (await client.get("/readyz")).json()["status"] == "ready"
        throwaway_redis.stop()
        enqueue_failures = counter("wapipe_enqueue_failures_total")
        fail_open = counter("wapipe_rate_limit_fail_open_total")
        accepted = received("accepted")

        body = wire_bytes(text_message())
        response = await post_signed(client, body)

        assert response.status_code == 200
        assert response.json() == {"status": "accepted"}
        row = log.row(body)
        assert row is not None
        assert row.body == body
        assert row.status == "received"
        assert row.due_at is not None  # the relay enqueues it once the lease passes
        assert counter("wapipe_enqueue_failures_total") == enqueue_failures + 1
        assert counter("wapipe_rate_limit_fail_open_total") == fail_open + 1
        assert received("accepted") == accepted + 1
        assert dependency_up("broker") == 0

        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "degraded",
            "checks": {"postgres": "ok", "broker": "down", "writers": "ok"},
        }


async def test_when_redis_comes_back_readiness_and_the_gauges_recover(
    make_settings: Callable[..., Settings],
    log: LogWatch,
    throwaway_redis: ThrowawayRedis,
    tmp_path: Path,
):
    settings = make_settings(REDIS_URL=throwaway_redis.url)
    async with running_ingress(settings) as client:
        throwaway_redis.stop()
        assert (await post_signed(client, wire_bytes(text_message()))).status_code == 200
        assert dependency_up("redis") == 0
        assert dependency_up("broker") == 0

        throwaway_redis.start()  # the same port, empty, as a restarted Redis would be
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"
        assert dependency_up("redis") == 1
        assert dependency_up("broker") == 1


async def test_with_redis_gone_bad_signatures_are_still_refused(
    make_settings: Callable[..., Settings], log: LogWatch, throwaway_redis: ThrowawayRedis
):
    settings = make_settings(REDIS_URL=throwaway_redis.url, BAD_SIGNATURE_LIMIT_PER_IP="1")
    async with running_ingress(settings) as client:
        throwaway_redis.stop()
        for _ in range(3):  # over the limit, but the limiter fails open: 401, never 429
            response = await client.post(
                WEBHOOK_PATH, content=b"{}", headers={"X-Hub-Signature-256": sign(b"other")}
            )
            assert response.status_code == 401
    assert log.added() == (0, 0)


async def test_with_postgres_unreachable_a_signed_post_gets_503_and_nothing_is_promised(
    make_settings: Callable[..., Settings],
):
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    async with running_ingress(make_settings(DATABASE_URL=nowhere)) as client:
        unavailable = received("unavailable")
        started = time.monotonic()
        answer, ready = await asyncio.gather(
            post_signed(client, wire_bytes(text_message())), client.get("/readyz")
        )
        elapsed = time.monotonic() - started

    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable"
    assert int(answer.headers["Retry-After"]) > 0
    # The pool gave up on its own (its timeout), before the request's last-resort timeout.
    assert elapsed < DEFAULT_APPEND_TIMEOUT_S
    assert received("unavailable") == unavailable + 1
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not_ready",
        "checks": {"postgres": "down", "broker": "ok", "writers": "ok"},
    }
    assert dependency_up("postgres") == 0


async def test_pooled_connections_killed_under_the_ingress_cost_no_503(
    make_settings: Callable[..., Settings], db: psycopg.Connection[Any]
):
    async with running_ingress(make_settings()) as client:
        assert (await post_signed(client, wire_bytes(text_message()))).status_code == 200
        # Postgres restarted, or an idle-connection killer ran: every pooled connection is dead.
        killed = db.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'wapipe-ingress') t"
        ).fetchone()
        assert killed is not None
        assert killed[0] >= 1
        unavailable = received("unavailable")
        answers = await asyncio.gather(
            *(post_signed(client, wire_bytes(text_message())) for _ in range(10))
        )
    assert [a.status_code for a in answers] == [200] * 10
    assert received("unavailable") == unavailable
    assert db.execute("SELECT count(*) FROM webhook_log").fetchone() == (11,)
