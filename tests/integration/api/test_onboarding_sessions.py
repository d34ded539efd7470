"""``POST /api/v1/onboardings/{code}/session``: the code exchanged in the request, the token
stored encrypted, the completion job inserted and woken (SPEC §7.2, §9, §16)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
import redis

from adapters.onboarding_cache import cache_key
from adapters.queue import EVENTS_QUEUE
from adapters.token_store import load_token
from domain.graph import AccessToken
from domain.token_crypto import TokenCipher
from runtime.settings import Settings
from tests.fake_graph import FakeGraph
from tests.integration.api.rows import add_connection, admin_key, bearer, org_key
from tests.integration.ingress.harness import running_ingress

pytestmark = pytest.mark.anyio

TOKEN = "EAAG-business-token-that-must-never-leak-7f3a"
CODE = "AQD-code-from-fb-login-91c2"
WABA = "102290129340398"
PHONE = "106540352242922"
BUSINESS = "104996122399160"


async def start(api: httpx.AsyncClient, key: str, organization_id: str = "acme") -> str:
    response = await api.post(
        "/api/v1/onboardings", json={"organization_id": organization_id}, headers=bearer(key)
    )
    assert response.status_code == 201
    return str(response.json()["tracking_code"])


async def post_session(
    api: httpx.AsyncClient, key: str, tracking_code: str, **body: Any
) -> httpx.Response:
    payload = {"code": CODE, "waba_id": WABA, **body}
    return await api.post(
        f"/api/v1/onboardings/{tracking_code}/session", json=payload, headers=bearer(key)
    )


def onboarding_row(db: psycopg.Connection[Any], tracking_code: str) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT status, waba_id, business_id, phone_number_id, signup_event,"
        " session_at IS NOT NULL FROM onboarding WHERE tracking_code = %s",
        (tracking_code,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def count(db: psycopg.Connection[Any], table: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


async def test_a_session_exchanges_the_code_stores_the_token_encrypted_and_wakes_the_job(
    onboarding_api: httpx.AsyncClient,
    *,
    db: psycopg.Connection[Any],
    graph: FakeGraph,
    cipher: TokenCipher,
    broker_queue: Callable[[str], list[int]],
    sync_redis: redis.Redis,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    graph.add_code(CODE, TOKEN)
    key = org_key(db, "acme")
    code = await start(onboarding_api, key)

    response = await post_session(
        onboarding_api,
        key,
        code,
        phone_number_id=PHONE,
        business_id=BUSINESS,
        event="FINISH",
    )
    read = await onboarding_api.get(f"/api/v1/onboardings/{code}", headers=bearer(key))

    assert (response.status_code, response.json()) == (202, {"status": "session_received"})
    assert len(graph.calls_of("exchange_code")) == 1
    # The token: stored as a v1 ciphertext under the first key, bound to its row.
    stored = db.execute(
        "SELECT ciphertext, key_id, status FROM business_token WHERE waba_id = %s", (WABA,)
    ).fetchone()
    assert stored is not None
    ciphertext, key_id, status = stored
    assert ciphertext.startswith("v1.k1.")
    assert TOKEN not in ciphertext
    assert (key_id, status) == ("k1", "unchecked")
    assert load_token(db, cipher, WABA) == AccessToken(TOKEN)
    # The onboarding: what the session reported.
    assert onboarding_row(db, code) == ("session_received", WABA, BUSINESS, PHONE, "FINISH", True)
    # The WABA belongs to the organization from now on (converges with PARTNER_ADDED).
    assert db.execute(
        "SELECT organization_id, owner_business_id, status FROM connection WHERE waba_id = %s",
        (WABA,),
    ).fetchone() == ("acme", BUSINESS, "active")
    # The completion job, inserted with the session and enqueued after the commit.
    job = db.execute(
        "SELECT id, kind, field, job_key, value, status FROM event WHERE kind = 'job'"
    ).fetchall()
    assert len(job) == 1
    job_id, *rest = job[0]
    assert rest == [
        "job",
        "onboarding_completion",
        f"onboarding_completion:{code}",
        {"tracking_code": code},
        "pending",
    ]
    assert broker_queue(EVENTS_QUEUE) == [job_id]
    # The cache no longer holds it: the read came from Postgres.
    assert not sync_redis.exists(cache_key(namespace, code))
    assert read.json()["status"] == "session_received"
    assert read.json()["waba_id"] == WABA
    # Never the token or the code in an answer or a log line (and the logs were captured).
    assert "onboarding session received" in caplog.text
    assert "HTTP Request" in caplog.text  # httpx's own line, its query string stripped
    for text in (response.text, read.text, caplog.text):
        assert TOKEN not in text
        assert CODE not in text


async def test_a_refused_exchange_is_502_with_metas_message_and_the_onboarding_stays_pending(
    onboarding_api: httpx.AsyncClient,
    db: psycopg.Connection[Any],
    graph: FakeGraph,
    broker_queue: Callable[[str], list[int]],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    graph.add_code(CODE, TOKEN)
    graph.expire_code(CODE)
    key = org_key(db, "acme")
    code = await start(onboarding_api, key)

    refused = await post_session(onboarding_api, key, code)

    assert refused.status_code == 502
    assert refused.json() == {
        "error": "code_exchange_failed",
        "detail": "This authorization code has expired.",
    }
    assert onboarding_row(db, code)[0] == "pending"
    assert (count(db, "business_token"), count(db, "event")) == (0, 0)
    assert broker_queue(EVENTS_QUEUE) == []

    # The user runs Embedded Signup again and the SaaS posts the new code.
    graph.add_code("AQD-second-code", TOKEN)
    retried = await post_session(onboarding_api, key, code, code="AQD-second-code")

    assert retried.status_code == 202
    assert onboarding_row(db, code)[0] == "session_received"
    assert "code exchange refused" in caplog.text
    assert TOKEN not in caplog.text
    assert CODE not in caplog.text


@pytest.mark.parametrize(
    "fault",
    [{"status": 503}, {"error_code": 4, "message": "Application request limit reached"}],
    ids=["unavailable", "rate_limited"],
)
async def test_graph_unavailable_or_throttling_is_503_with_retry_after(
    onboarding_api: httpx.AsyncClient,
    db: psycopg.Connection[Any],
    graph: FakeGraph,
    fault: dict[str, Any],
):
    graph.add_code(CODE, TOKEN)
    graph.fail_next("exchange_code", **fault)
    key = org_key(db, "acme")
    code = await start(onboarding_api, key)

    response = await post_session(onboarding_api, key, code)

    assert response.status_code == 503
    assert response.json()["error"] == "graph_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert onboarding_row(db, code)[0] == "pending"
    assert TOKEN not in response.text


async def test_a_session_for_an_expired_code_is_410_and_spends_no_code(
    onboarding_api: httpx.AsyncClient, db: psycopg.Connection[Any], graph: FakeGraph
):
    graph.add_code(CODE, TOKEN)
    key = org_key(db, "acme")
    code = await start(onboarding_api, key)
    db.execute(
        "UPDATE onboarding SET expires_at = now() - interval '1 second' WHERE tracking_code = %s",
        (code,),
    )

    response = await post_session(onboarding_api, key, code)

    assert (response.status_code, response.json()) == (410, {"error": "expired"})
    assert graph.calls_of("exchange_code") == []


async def test_a_second_session_is_409_saying_it_already_received_one(
    onboarding_api: httpx.AsyncClient, db: psycopg.Connection[Any], graph: FakeGraph
):
    graph.add_code(CODE, TOKEN)
    graph.add_code("AQD-again", "EAAG-another-token")
    key = org_key(db, "acme")
    code = await start(onboarding_api, key)
    assert (await post_session(onboarding_api, key, code)).status_code == 202

    again = await post_session(onboarding_api, key, code, code="AQD-again")

    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    assert "already received its session" in again.json()["detail"]
    assert len(graph.calls_of("exchange_code")) == 1
    assert count(db, "event") == 1


async def test_a_session_for_a_completed_onboarding_is_409_saying_so(
    onboarding_api: httpx.AsyncClient, db: psycopg.Connection[Any], graph: FakeGraph
):
    key = org_key(db, "acme")
    code = await start(onboarding_api, key)
    db.execute("UPDATE onboarding SET status = 'completed' WHERE tracking_code = %s", (code,))

    response = await post_session(onboarding_api, key, code)

    assert response.status_code == 409
    assert "completed" in response.json()["detail"]


async def test_another_organizations_key_cannot_post_its_session(
    onboarding_api: httpx.AsyncClient, db: psycopg.Connection[Any], graph: FakeGraph
):
    graph.add_code(CODE, TOKEN)
    code = await start(onboarding_api, org_key(db, "acme"))

    response = await post_session(onboarding_api, org_key(db, "globex"), code)

    assert (response.status_code, response.json()) == (404, {"error": "not_found"})
    assert graph.calls_of("exchange_code") == []
    assert onboarding_row(db, code)[0] == "pending"


async def test_a_wabas_token_cannot_be_replaced_through_another_organizations_onboarding(
    onboarding_api: httpx.AsyncClient, db: psycopg.Connection[Any], graph: FakeGraph
):
    graph.add_code(CODE, TOKEN)
    add_connection(db, WABA, "globex")
    key = org_key(db, "acme")
    code = await start(onboarding_api, key)

    response = await post_session(onboarding_api, key, code)

    assert response.status_code == 409
    assert "another organization" in response.json()["detail"]
    assert graph.calls_of("exchange_code") == []
    assert count(db, "business_token") == 0


async def test_an_orphan_left_by_partner_added_is_attached_by_the_session(
    onboarding_api: httpx.AsyncClient, db: psycopg.Connection[Any], graph: FakeGraph
):
    graph.add_code(CODE, TOKEN)
    add_connection(db, WABA, None, status="orphan")
    key = org_key(db, "acme")
    code = await start(onboarding_api, key)

    assert (await post_session(onboarding_api, key, code)).status_code == 202

    assert db.execute(
        "SELECT organization_id, status FROM connection WHERE waba_id = %s", (WABA,)
    ).fetchone() == ("acme", "active")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"code": ""}, ["body", "code"]),
        ({"waba_id": "../me"}, ["body", "waba_id"]),
        ({"phone_number_id": "1 2"}, ["body", "phone_number_id"]),
        ({"event": "finish; drop"}, ["body", "event"]),
        ({"sessionInfo": {}}, ["body", "sessionInfo"]),
    ],
)
async def test_an_invalid_session_body_is_422_with_the_field(
    onboarding_api: httpx.AsyncClient,
    db: psycopg.Connection[Any],
    graph: FakeGraph,
    body: dict[str, Any],
    loc: list[str],
):
    key = org_key(db, "acme")
    code = await start(onboarding_api, key)

    response = await post_session(onboarding_api, key, code, **body)

    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]] == [loc]
    assert graph.calls_of("exchange_code") == []


async def test_an_admin_posts_a_session_for_any_organization(
    onboarding_api: httpx.AsyncClient, db: psycopg.Connection[Any], graph: FakeGraph
):
    graph.add_code(CODE, TOKEN)
    code = await start(onboarding_api, org_key(db, "acme"))

    response = await post_session(onboarding_api, admin_key(db), code)

    assert response.status_code == 202


async def test_without_graph_or_token_keys_configured_a_session_is_503_not_configured(
    make_settings: Callable[..., Settings], db: psycopg.Connection[Any]
):
    key = org_key(db, "acme")
    async with running_ingress(make_settings()) as api:
        code = await start(api, key)
        response = await post_session(api, key, code)

    assert response.status_code == 503
    assert response.json()["error"] == "not_configured"
    assert "WAPIPE_TOKEN_KEYS" in response.json()["detail"]
    assert onboarding_row(db, code)[0] == "pending"
