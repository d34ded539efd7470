"""What operators see: /metrics outcomes, an access log without queries, no secret in any log."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.procs import free_port
from runtime.logging import ConsoleFormatter, JsonFormatter
from runtime.metrics.ingress import RECEIVED_OUTCOMES
from runtime.settings import Settings
from tests.builders import APP_SECRET, sign, text_message, wire_bytes
from tests.integration.ingress.harness import (
    WEBHOOK_PATH,
    LogWatch,
    post_signed,
    running_ingress,
    wait_for_a_fresh_rate_limit_window,
)

pytestmark = pytest.mark.anyio

VERIFY_TOKEN = "verify-token-for-tests"  # what tests/conftest.py configures
CHALLENGE = "challenge-8812"
DATABASE_PASSWORD = "pg-password-e91d"  # trust auth ignores it; it must still never be logged


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def outcome(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return samples[("wapipe_webhooks_received_total", (("outcome", name),))]


async def test_metrics_count_every_outcome_of_a_webhook_post(
    make_settings: Callable[..., Settings], log: LogWatch
):
    settings = make_settings(MAX_BODY_BYTES="2048", BAD_SIGNATURE_LIMIT_PER_IP="1")
    wait_for_a_fresh_rate_limit_window()
    async with running_ingress(settings) as client:
        before = await scrape(client)
        for name in RECEIVED_OUTCOMES:  # every series exists from the start, zero or not
            assert outcome(before, name) >= 0
        for dependency in ("postgres", "broker", "redis"):
            assert ("wapipe_dependency_up", (("dependency", dependency),)) in before

        body = wire_bytes(text_message())
        assert (await post_signed(client, body)).status_code == 200
        assert (await post_signed(client, body)).status_code == 200
        assert (await post_signed(client, b"x" * 4096)).status_code == 413
        assert (await client.post(WEBHOOK_PATH, content=body)).status_code == 401
        assert (await post_signed(client, wire_bytes(text_message()))).status_code == 429
        after = await scrape(client)

    deltas = {name: outcome(after, name) - outcome(before, name) for name in RECEIVED_OUTCOMES}
    assert deltas == {
        "accepted": 1,
        "duplicate": 1,
        "too_large": 1,
        "bad_signature": 1,
        "rate_limited": 1,
        "unavailable": 0,
    }
    duration = ("wapipe_ingest_duration_seconds_count", ())
    assert after[duration] - before[duration] == 5
    assert log.added() == (1, 1)


async def test_while_every_dependency_answers_every_dependency_gauge_reads_1(
    ingress: httpx.AsyncClient,
):
    samples = await scrape(ingress)
    for dependency in ("postgres", "broker", "redis"):
        assert samples[("wapipe_dependency_up", (("dependency", dependency),))] == 1, dependency


async def test_without_redis_there_is_no_redis_gauge_to_read_as_down(
    make_settings: Callable[..., Settings],
):
    # RabbitMQ as the broker and no REDIS_URL: Redis is no dependency (and no limit applies).
    broker_url = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    async with running_ingress(make_settings(REDIS_URL="", BROKER_URL=broker_url)) as client:
        samples = await scrape(client)
    assert ("wapipe_dependency_up", (("dependency", "redis"),)) not in samples
    assert samples[("wapipe_dependency_up", (("dependency", "postgres"),))] == 1


async def test_the_access_log_has_the_path_and_status_but_never_the_query(
    ingress: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": CHALLENGE}
    assert (await ingress.get(WEBHOOK_PATH, params=query)).status_code == 200
    wrong = {**query, "hub.verify_token": "almost-" + VERIFY_TOKEN}
    assert (await ingress.get(WEBHOOK_PATH, params=wrong)).status_code == 403

    access = [record for record in caplog.records if record.name == "wapipe.access"]
    assert [record.getMessage() for record in access] == [
        f"GET {WEBHOOK_PATH} 200",
        f"GET {WEBHOOK_PATH} 403",
    ]
    for record in access:
        line = JsonFormatter().format(record)
        for forbidden in ("?", "hub.", VERIFY_TOKEN, CHALLENGE):
            assert forbidden not in line


async def test_no_log_record_of_a_whole_request_cycle_holds_a_secret(
    make_settings: Callable[..., Settings],
    database_url: str,
    log: LogWatch,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    settings = make_settings(DATABASE_URL=f"{database_url} password={DATABASE_PASSWORD}")
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": CHALLENGE}
    async with running_ingress(settings) as client:
        assert (await client.get(WEBHOOK_PATH, params=query)).status_code == 200
        wrong = {**query, "hub.verify_token": VERIFY_TOKEN + "x"}
        assert (await client.get(WEBHOOK_PATH, params=wrong)).status_code == 403
        body = wire_bytes(text_message())
        assert (await post_signed(client, body)).status_code == 200
        assert (await post_signed(client, body)).status_code == 200
        forged = {"X-Hub-Signature-256": sign(body, "not-the-secret")}
        assert (await client.post(WEBHOOK_PATH, content=body, headers=forged)).status_code == 401
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200

    # httpx logs the URL it requests: that is this test's client, not the service.
    service = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(record.name == "wapipe.access" for record in service)
    for record in service:
        for line in (JsonFormatter().format(record), ConsoleFormatter().format(record)):
            for secret in (APP_SECRET, VERIFY_TOKEN, DATABASE_PASSWORD):
                assert secret not in line, f"{record.name} logged a secret"
