"""``GET /api/v1/organizations/{org}/connections`` (SPEC §8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.api.rows import T0, add_connection, bearer, org_key

pytestmark = pytest.mark.anyio


async def test_an_organization_sees_its_connections_with_their_numbers(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(
        db,
        "waba-2",
        "acme",
        status="awaiting_phone_selection",
        owner_business_id="biz-7",
        phones=(("pn-22", "+1 555 0102", "pending"), ("pn-21", None, "connected")),
        detected_at=T0 + timedelta(hours=1),
    )
    add_connection(db, "waba-1", "acme", phones=(("pn-11", "+1 555 0101", "connected"),))
    add_connection(db, "waba-other", "globex", phones=(("pn-99", "+1 555 0199", "connected"),))
    add_connection(db, "waba-orphan", None, status="orphan")

    response = await api.get(
        "/api/v1/organizations/acme/connections", headers=bearer(org_key(db, "acme"))
    )

    assert response.status_code == 200
    assert response.json() == [
        {
            "waba_id": "waba-1",
            "owner_business_id": "biz-1",
            "status": "active",
            "token_status": "unchecked",
            "reconnect_required": False,
            "reconnect_reason": None,
            "phone_numbers": [
                {
                    "phone_number_id": "pn-11",
                    "display_phone_number": "+1 555 0101",
                    "status": "connected",
                }
            ],
        },
        {
            "waba_id": "waba-2",
            "owner_business_id": "biz-7",
            "status": "awaiting_phone_selection",
            "token_status": "unchecked",
            "reconnect_required": False,
            "reconnect_reason": None,
            "phone_numbers": [
                {"phone_number_id": "pn-21", "display_phone_number": None, "status": "connected"},
                {
                    "phone_number_id": "pn-22",
                    "display_phone_number": "+1 555 0102",
                    "status": "pending",
                },
            ],
        },
    ]


async def test_a_connection_without_numbers_lists_an_empty_phone_list(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-1", "acme", owner_business_id=None)

    response = await api.get(
        "/api/v1/organizations/acme/connections", headers=bearer(org_key(db, "acme"))
    )

    (connection,) = response.json()
    assert connection["phone_numbers"] == []
    assert connection["owner_business_id"] is None


async def test_an_organization_with_no_connection_gets_an_empty_list(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-other", "globex")

    response = await api.get(
        "/api/v1/organizations/acme/connections", headers=bearer(org_key(db, "acme"))
    )

    assert (response.status_code, response.json()) == (200, [])


async def test_a_query_parameter_cannot_name_another_organization(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-other", "globex")

    response = await api.get(
        "/api/v1/organizations/acme/connections",
        params={"org": "globex"},
        headers=bearer(org_key(db, "acme")),
    )

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert [field["loc"] for field in response.json()["detail"]] == [["query", "org"]]


async def test_an_unknown_query_parameter_is_an_invalid_request(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    response = await api.get(
        "/api/v1/organizations/acme/connections",
        params={"include": "tokens"},
        headers=bearer(org_key(db, "acme")),
    )

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["query", "include"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]


def add_token_row(db: psycopg.Connection[Any], waba_id: str, status: str) -> None:
    """A stored token as a health check left it (the ciphertext is never read here)."""
    db.execute(
        "INSERT INTO business_token (waba_id, ciphertext, key_id, status)"
        " VALUES (%s, 'v1.k1.bm9uY2U.c2VhbGVk', 'k1', %s)",
        (waba_id, status),
    )


@pytest.mark.parametrize(
    ("status", "reconnect"),
    [
        ("valid", False),
        ("expiring_soon", False),
        ("critical", True),
        ("invalid", True),
        ("undecryptable", True),
    ],
)
async def test_token_status_comes_from_the_stored_token_and_bad_ones_require_a_reconnect(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], status: str, reconnect: bool
):
    add_connection(db, "waba-1", "acme")
    add_token_row(db, "waba-1", status)

    response = await api.get(
        "/api/v1/organizations/acme/connections", headers=bearer(org_key(db, "acme"))
    )

    (connection,) = response.json()
    assert (connection["token_status"], connection["reconnect_required"]) == (status, reconnect)
    assert "v1.k1" not in response.text  # the ciphertext never leaves the database


async def test_a_recorded_reconnect_reason_requires_a_reconnect_whatever_the_token(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-1", "acme")
    add_token_row(db, "waba-1", "valid")
    db.execute("UPDATE connection SET reconnect_reason = 'missing_scopes' WHERE waba_id = 'waba-1'")

    response = await api.get(
        "/api/v1/organizations/acme/connections", headers=bearer(org_key(db, "acme"))
    )

    (connection,) = response.json()
    assert connection["reconnect_required"] is True
    assert connection["reconnect_reason"] == "missing_scopes"
    assert connection["token_status"] == "valid"
