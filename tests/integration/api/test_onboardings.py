"""``POST /api/v1/onboardings`` and ``GET /api/v1/onboardings/{code}`` (SPEC §7.1, §8, §13)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import redis
import redis.asyncio as aioredis

from adapters.onboarding_cache import cache_key
from bench.procs import free_port
from runtime.settings import Settings
from tests.integration.api.rows import admin_key, bearer, org_key
from tests.integration.ingress.harness import running_ingress

pytestmark = pytest.mark.anyio


async def create(api: httpx.AsyncClient, key: str, organization_id: str) -> httpx.Response:
    return await api.post(
        "/api/v1/onboardings", json={"organization_id": organization_id}, headers=bearer(key)
    )


def expire(db: psycopg.Connection[Any], tracking_code: str) -> None:
    db.execute(
        "UPDATE onboarding SET expires_at = now() - interval '1 minute' WHERE tracking_code = %s",
        (tracking_code,),
    )


async def test_an_organization_creates_an_onboarding_stored_in_postgres_and_cached_in_redis(
    api: httpx.AsyncClient,
    db: psycopg.Connection[Any],
    sync_redis: redis.Redis,
    namespace: str,
):
    before = datetime.now(UTC)

    response = await create(api, org_key(db, "acme"), "acme")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"tracking_code", "organization_id", "status", "expires_at"}
    assert (body["organization_id"], body["status"]) == ("acme", "pending")
    code = body["tracking_code"]
    assert len(code) >= 32
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert (
        timedelta(hours=24) - timedelta(minutes=1)
        < expires_at - before
        < timedelta(hours=24, minutes=1)
    )
    row = db.execute(
        "SELECT organization_id, status, waba_id FROM onboarding WHERE tracking_code = %s",
        (code,),
    ).fetchone()
    assert row == ("acme", "pending", None)
    ttl_ms = sync_redis.pttl(cache_key(namespace, code))
    assert timedelta(hours=23, minutes=59) < timedelta(milliseconds=ttl_ms) <= timedelta(hours=24)


async def test_the_tracking_code_lives_onboarding_ttl_hours(
    make_settings: Callable[..., Settings], db: psycopg.Connection[Any]
):
    async with running_ingress(make_settings(ONBOARDING_TTL_HOURS="2")) as api:
        response = await create(api, org_key(db, "acme"), "acme")
    expires_at = datetime.fromisoformat(response.json()["expires_at"])
    assert abs(expires_at - datetime.now(UTC) - timedelta(hours=2)) < timedelta(minutes=1)


async def test_an_organization_key_cannot_create_for_another_organization(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    response = await create(api, org_key(db, "acme"), "globex")

    assert (response.status_code, response.json()) == (404, {"error": "not_found"})
    assert db.execute("SELECT count(*) FROM onboarding").fetchone() == (0,)


async def test_an_admin_key_creates_for_any_organization(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    response = await create(api, admin_key(db), "globex")

    assert response.status_code == 201
    assert response.json()["organization_id"] == "globex"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "organization_id"]),
        ({"organization_id": ""}, ["body", "organization_id"]),
        ({"organization_id": "acme", "orgnization": "x"}, ["body", "orgnization"]),
    ],
)
async def test_an_invalid_body_is_422_with_the_field_errors(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], body: dict[str, str], loc: list[str]
):
    response = await api.post("/api/v1/onboardings", json=body, headers=bearer(org_key(db, "acme")))

    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid_request"
    assert [item["loc"] for item in answer["detail"]] == [loc]


async def test_creating_without_a_key_is_401(api: httpx.AsyncClient, db: psycopg.Connection[Any]):
    response = await api.post("/api/v1/onboardings", json={"organization_id": "acme"})
    assert response.status_code == 401


async def test_reading_an_onboarding_answers_its_shape(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    key = org_key(db, "acme")
    created = (await create(api, key, "acme")).json()

    response = await api.get(f"/api/v1/onboardings/{created['tracking_code']}", headers=bearer(key))

    assert response.status_code == 200
    assert response.json() == {
        "tracking_code": created["tracking_code"],
        "organization_id": "acme",
        "status": "pending",
        "waba_id": None,
        "expires_at": created["expires_at"],
    }


async def test_an_unknown_tracking_code_is_404(api: httpx.AsyncClient, db: psycopg.Connection[Any]):
    response = await api.get("/api/v1/onboardings/no-such-code", headers=bearer(org_key(db, "a")))
    assert (response.status_code, response.json()) == (404, {"error": "not_found"})


async def test_another_organizations_onboarding_is_404_and_an_admin_sees_it(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    code = (await create(api, org_key(db, "acme"), "acme")).json()["tracking_code"]

    other = await api.get(f"/api/v1/onboardings/{code}", headers=bearer(org_key(db, "globex")))
    admin = await api.get(f"/api/v1/onboardings/{code}", headers=bearer(admin_key(db)))

    assert (other.status_code, other.json()) == (404, {"error": "not_found"})
    assert admin.status_code == 200


async def test_an_expired_code_is_410_from_postgres(
    api: httpx.AsyncClient,
    db: psycopg.Connection[Any],
    sync_redis: redis.Redis,
    namespace: str,
):
    key = org_key(db, "acme")
    code = (await create(api, key, "acme")).json()["tracking_code"]
    expire(db, code)
    sync_redis.delete(cache_key(namespace, code))  # as Redis does once the TTL passes

    response = await api.get(f"/api/v1/onboardings/{code}", headers=bearer(key))

    assert (response.status_code, response.json()) == (410, {"error": "expired"})


async def test_a_cached_entry_past_its_expiry_is_410_too(
    api: httpx.AsyncClient,
    db: psycopg.Connection[Any],
    sync_redis: redis.Redis,
    namespace: str,
):
    key = org_key(db, "acme")
    code = (await create(api, key, "acme")).json()["tracking_code"]
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    entry = {"organization_id": "acme", "status": "pending", "waba_id": None, "expires_at": past}
    sync_redis.set(cache_key(namespace, code), json.dumps(entry), px=60_000)

    response = await api.get(f"/api/v1/onboardings/{code}", headers=bearer(key))

    assert (response.status_code, response.json()) == (410, {"error": "expired"})


async def test_an_onboarding_the_scheduler_marked_expired_is_410(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], sync_redis: redis.Redis, namespace: str
):
    key = org_key(db, "acme")
    code = (await create(api, key, "acme")).json()["tracking_code"]
    db.execute("UPDATE onboarding SET status = 'expired' WHERE tracking_code = %s", (code,))
    sync_redis.delete(cache_key(namespace, code))

    response = await api.get(f"/api/v1/onboardings/{code}", headers=bearer(key))

    assert response.status_code == 410


async def test_a_read_served_by_the_cache_still_hides_another_organizations_onboarding(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], sync_redis: redis.Redis, namespace: str
):
    code = (await create(api, org_key(db, "acme"), "acme")).json()["tracking_code"]
    db.execute("DELETE FROM onboarding")  # only the cache knows it now
    assert sync_redis.exists(cache_key(namespace, code))

    other = await api.get(f"/api/v1/onboardings/{code}", headers=bearer(org_key(db, "globex")))
    own = await api.get(f"/api/v1/onboardings/{code}", headers=bearer(org_key(db, "acme")))

    assert other.status_code == 404
    assert (own.status_code, own.json()["status"]) == (200, "pending")


async def test_with_redis_down_onboardings_are_created_and_read_from_postgres(
    make_settings: Callable[..., Settings], db: psycopg.Connection[Any]
):
    closed = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5, socket_connect_timeout=0.5
    )
    key = org_key(db, "acme")
    async with running_ingress(make_settings(), redis=closed) as api:
        created = await create(api, key, "acme")
        code = created.json()["tracking_code"]
        read = await api.get(f"/api/v1/onboardings/{code}", headers=bearer(key))
        expire(db, code)
        expired = await api.get(f"/api/v1/onboardings/{code}", headers=bearer(key))

    assert created.status_code == 201
    assert (read.status_code, read.json()["status"]) == (200, "pending")
    assert (expired.status_code, expired.json()) == (410, {"error": "expired"})
