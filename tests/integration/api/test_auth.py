"""Who may call ``/api/v1`` (SPEC §8, §13, §16): Bearer API keys, scopes, organizations."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from adapters.api_keys import revoke_api_key
from runtime.metrics import ingress as metrics
from tests.integration.api.rows import (
    add_connection,
    add_message,
    admin_key,
    bearer,
    key_id_of,
    org_key,
)

pytestmark = pytest.mark.anyio

CONNECTIONS = "/api/v1/organizations/acme/connections"


def auth_failures(reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value("wapipe_api_auth_failures_total", {"reason": reason})
    return value or 0.0


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_request_without_a_key_is_unauthorized(api: httpx.AsyncClient):
    before = auth_failures("missing")

    response = await api.get(CONNECTIONS)

    assert_unauthorized(response)
    assert response.headers["www-authenticate"] == "Bearer"
    assert auth_failures("missing") == before + 1


async def test_a_well_formed_key_that_was_never_issued_is_unauthorized(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    real = org_key(db, "acme")
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    before = auth_failures("rejected")

    response = await api.get(CONNECTIONS, headers=bearer(forged))

    assert_unauthorized(response)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert forged not in response.text
    assert auth_failures("rejected") == before + 1


async def test_a_key_with_an_unknown_id_is_unauthorized(api: httpx.AsyncClient):
    response = await api.get(CONNECTIONS, headers=bearer("wpk_ak_0123456789ab_" + "A" * 43))

    assert_unauthorized(response)


async def test_a_revoked_key_is_refused_from_the_next_request_on(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    key = org_key(db, "acme")
    assert (await api.get(CONNECTIONS, headers=bearer(key))).status_code == 200

    assert revoke_api_key(db, key_id_of(key))
    response = await api.get(CONNECTIONS, headers=bearer(key))

    assert_unauthorized(response)


async def test_a_key_sent_with_the_basic_scheme_is_unauthorized(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    key = org_key(db, "acme")
    before = auth_failures("scheme")

    response = await api.get(CONNECTIONS, headers={"Authorization": f"Basic {key}"})

    assert_unauthorized(response)
    assert key not in response.text
    assert auth_failures("scheme") == before + 1


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer not-a-key",
        "Bearer wpk_ak_0123456789ab_short",
        "Bearer wpk_AK_0123456789AB_" + "A" * 43,
        "Bearer wpk_ak_0123456789ab_" + "A" * 42 + "!",
        "Bearer wpk_ak_0123456789ab_" + "A" * 44,
    ],
)
async def test_a_malformed_bearer_key_is_unauthorized(api: httpx.AsyncClient, header: str):
    response = await api.get(CONNECTIONS, headers={"Authorization": header})

    assert_unauthorized(response)


async def test_the_bearer_scheme_is_case_insensitive(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    key = org_key(db, "acme")

    response = await api.get(CONNECTIONS, headers={"Authorization": f"bearer {key}"})

    assert response.status_code == 200


async def test_an_organization_key_is_forbidden_the_admin_namespace(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    key = org_key(db, "acme")

    for path in ("/api/v1/admin/orphans", "/api/v1/admin/dead-letters/1/replay"):
        response = await api.get(path, headers=bearer(key))
        assert response.status_code == 403, path
        assert response.json()["error"] == "forbidden"


async def test_the_admin_namespace_without_a_key_is_unauthorized(api: httpx.AsyncClient):
    response = await api.get("/api/v1/admin/orphans")

    assert_unauthorized(response)


async def test_an_admin_key_on_an_admin_path_with_no_route_finds_nothing(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    response = await api.get("/api/v1/admin/no-such-thing", headers=bearer(admin_key(db)))

    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}


async def test_an_organization_key_on_another_organizations_resources_finds_nothing(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-b", "org-b", phones=(("pn-b", "+1 555", "connected"),))
    add_message(db, "wamid.B1", "org-b")
    key = org_key(db, "org-a")

    paths = (
        "/api/v1/organizations/org-b/connections",
        "/api/v1/organizations/org-b/messages",
        "/api/v1/organizations/org-b/messages/wamid.B1",
        # A query the route would refuse (422) changes nothing: the organization is not theirs.
        "/api/v1/organizations/org-b/messages?limit=501",
    )
    for path in paths:
        response = await api.get(path, headers=bearer(key))
        assert response.status_code == 404, path
        assert response.json() == {"error": "not_found"}, path


async def test_another_organizations_resource_answers_like_a_route_that_does_not_exist(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_message(db, "wamid.B1", "org-b")
    key = org_key(db, "org-a")

    foreign = await api.get("/api/v1/organizations/org-b/messages/wamid.B1", headers=bearer(key))
    missing = await api.get("/api/v1/no/such/route", headers=bearer(key))

    assert (foreign.status_code, foreign.content) == (missing.status_code, missing.content)


async def test_an_admin_key_reads_any_organization(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-b", "org-b")

    response = await api.get(
        "/api/v1/organizations/org-b/connections", headers=bearer(admin_key(db))
    )

    assert response.status_code == 200
    assert [c["waba_id"] for c in response.json()] == ["waba-b"]


async def test_the_webhook_routes_need_no_api_key(api: httpx.AsyncClient):
    response = await api.get(
        "/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-token-for-tests",
            "hub.challenge": "42",
        },
        headers={"Authorization": "Basic bm90OmFwaQ=="},
    )

    assert (response.status_code, response.text) == (200, "42")


async def test_an_unknown_method_on_an_api_route_answers_json(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    response = await api.post(CONNECTIONS, headers=bearer(org_key(db, "acme")))

    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed"}
    assert "GET" in response.headers["allow"]
