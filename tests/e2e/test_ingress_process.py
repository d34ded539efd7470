"""The real ``wapipe ingress`` process: the durability contract over HTTP (SPEC §4, §5, §13)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from bench.procs import free_port
from tests.builders import PAYLOADS, text_message, wire_bytes
from tests.e2e.conftest import EnvironFactory
from tests.e2e.helpers import WEBHOOK_PATH, counter_value, metric_samples, post_signed, scalar
from tests.processes import ThrowawayRedis, running_ingress

pytestmark = pytest.mark.e2e

RECEIVED = "wapipe_webhooks_received_total"
VERIFY_TOKEN = "verify-token-for-tests"  # what tests.conftest.settings_environ configures


def rows_with_body(database_url: str, body: bytes) -> int:
    digest = hashlib.sha256(body).digest()
    count: int = scalar(
        database_url, "SELECT count(*) FROM webhook_log WHERE sha256 = %s", [digest]
    )
    return count


def test_a_signed_sample_is_logged_once_and_a_tampered_copy_is_rejected(
    make_environ: EnvironFactory,
    e2e_database_url: str,
    redis_server: ThrowawayRedis,
    log_dir: Path,
):
    body = (PAYLOADS / "messages_text.json").read_bytes()  # the captured bytes, as they are
    tampered = bytearray(body)
    tampered[len(tampered) // 2] ^= 0x01
    env = make_environ(redis=redis_server.url)
    with running_ingress(env, log_dir) as base_url, httpx.Client(base_url=base_url) as client:
        first = post_signed(client, body)
        assert (first.status_code, first.json()) == (200, {"status": "accepted"})
        assert rows_with_body(e2e_database_url, body) == 1

        again = post_signed(client, body)
        assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
        assert rows_with_body(e2e_database_url, body) == 1

        forged = client.post(
            WEBHOOK_PATH,
            content=bytes(tampered),
            headers={"X-Hub-Signature-256": first.request.headers["X-Hub-Signature-256"]},
        )
        assert forged.status_code == 401
        assert scalar(e2e_database_url, "SELECT count(*) FROM webhook_log") == 1

        exposed = metric_samples(client.get("/metrics").text, RECEIVED)
        assert exposed == {
            (("outcome", "accepted"),): 1.0,
            (("outcome", "duplicate"),): 1.0,
            (("outcome", "bad_signature"),): 1.0,
            (("outcome", "too_large"),): 0.0,
            (("outcome", "rate_limited"),): 0.0,
            (("outcome", "unavailable"),): 0.0,
        }


def test_the_subscription_handshake_echoes_the_challenge_only_for_the_right_token(
    make_environ: EnvironFactory, redis_server: ThrowawayRedis, log_dir: Path
):
    env = make_environ(redis=redis_server.url)
    with running_ingress(env, log_dir) as base_url, httpx.Client(base_url=base_url) as client:
        params = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
        ok = client.get(WEBHOOK_PATH, params={**params, "hub.verify_token": VERIFY_TOKEN})
        assert ok.status_code == 200
        assert ok.text == "1158201444"
        wrong = client.get(WEBHOOK_PATH, params={**params, "hub.verify_token": "guessed"})
        assert wrong.status_code == 403
        assert "1158201444" not in wrong.text


def test_with_redis_stopped_a_signed_post_is_still_stored_and_acknowledged(
    make_environ: EnvironFactory,
    e2e_database_url: str,
    redis_server: ThrowawayRedis,
    log_dir: Path,
):
    env = make_environ(redis=redis_server.url)
    body = wire_bytes(text_message())
    with running_ingress(env, log_dir) as base_url, httpx.Client(base_url=base_url) as client:
        redis_server.stop()
        response = post_signed(client, body)
        assert (response.status_code, response.json()) == (200, {"status": "accepted"})
        assert rows_with_body(e2e_database_url, body) == 1
        assert counter_value(base_url, "wapipe_enqueue_failures_total") == 1


def test_with_postgres_unreachable_a_signed_post_gets_503_and_nothing_is_promised(
    make_environ: EnvironFactory, redis_server: ThrowawayRedis, log_dir: Path
):
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/wapipe_nowhere"
    env = make_environ(redis=redis_server.url, DATABASE_URL=nowhere)
    body = wire_bytes(text_message())
    with (
        running_ingress(env, log_dir) as base_url,
        httpx.Client(base_url=base_url, timeout=30.0) as client,
    ):
        response = post_signed(client, body)
        assert response.status_code == 503
        assert response.headers.get("Retry-After")
        assert counter_value(base_url, RECEIVED, outcome="unavailable") == 1
        assert counter_value(base_url, RECEIVED, outcome="accepted") == 0
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["postgres"] == "down"
