"""``/api/v1/admin/orphans``: list and claim orphan WABAs, with an audit row (SPEC §7.6, §8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.api.rows import T0, add_connection, admin_key, bearer, key_id_of, org_key

pytestmark = pytest.mark.anyio


def audit_rows(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in db.execute("SELECT actor, action, subject, details FROM audit_log ORDER BY id")
    ]


async def test_admins_list_orphans_oldest_first_in_the_contract_shape(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-late", None, status="orphan", detected_at=T0 + timedelta(hours=1))
    add_connection(db, "waba-early", None, status="orphan", owner_business_id=None)
    add_connection(db, "waba-owned", "acme")

    response = await api.get("/api/v1/admin/orphans", headers=bearer(admin_key(db)))

    assert response.status_code == 200
    assert response.json() == [
        {"waba_id": "waba-early", "owner_business_id": None, "detected_at": "2026-03-01T12:00:00Z"},
        {
            "waba_id": "waba-late",
            "owner_business_id": "biz-1",
            "detected_at": "2026-03-01T13:00:00Z",
        },
    ]


async def test_claiming_an_orphan_attaches_it_and_the_audit_log_names_the_key(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(
        db, "waba-1", None, status="orphan", phones=(("pn-1", "+1 555 0101", "connected"),)
    )
    key = admin_key(db)

    response = await api.post(
        "/api/v1/admin/orphans/waba-1/claim", json={"organization_id": "acme"}, headers=bearer(key)
    )

    assert response.status_code == 200
    assert response.json() == {
        "waba_id": "waba-1",
        "owner_business_id": "biz-1",
        "status": "active",
        "token_status": "unchecked",
        "reconnect_required": False,
        "reconnect_reason": None,
        "phone_numbers": [
            {
                "phone_number_id": "pn-1",
                "display_phone_number": "+1 555 0101",
                "status": "connected",
            }
        ],
    }
    assert db.execute(
        "SELECT organization_id FROM connection WHERE waba_id = 'waba-1'"
    ).fetchone() == ("acme",)
    assert audit_rows(db) == [
        (
            f"api_key:{key_id_of(key)} (ops)",
            "orphan.claim",
            "connection:waba-1",
            {"organization_id": "acme"},
        )
    ]
    listed = await api.get("/api/v1/admin/orphans", headers=bearer(key))
    assert listed.json() == []
    # The organization sees it now.
    mine = await api.get(
        "/api/v1/organizations/acme/connections", headers=bearer(org_key(db, "acme"))
    )
    assert [c["waba_id"] for c in mine.json()] == ["waba-1"]


async def test_claiming_a_waba_that_is_not_an_orphan_is_409_and_an_unknown_one_404(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-owned", "globex")
    key = admin_key(db)

    owned = await api.post(
        "/api/v1/admin/orphans/waba-owned/claim",
        json={"organization_id": "acme"},
        headers=bearer(key),
    )
    unknown = await api.post(
        "/api/v1/admin/orphans/waba-none/claim",
        json={"organization_id": "acme"},
        headers=bearer(key),
    )

    assert owned.status_code == 409
    assert "not an orphan" in owned.json()["detail"]
    assert (unknown.status_code, unknown.json()) == (404, {"error": "not_found"})
    assert audit_rows(db) == []
    assert db.execute("SELECT organization_id FROM connection").fetchall() == [("globex",)]


async def test_an_organization_key_can_neither_list_nor_claim_orphans(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-1", None, status="orphan")
    key = org_key(db, "acme")

    listed = await api.get("/api/v1/admin/orphans", headers=bearer(key))
    claimed = await api.post(
        "/api/v1/admin/orphans/waba-1/claim", json={"organization_id": "acme"}, headers=bearer(key)
    )
    anonymous = await api.get("/api/v1/admin/orphans")

    assert (listed.status_code, claimed.status_code, anonymous.status_code) == (403, 403, 401)
    assert db.execute("SELECT organization_id FROM connection").fetchall() == [(None,)]
    assert audit_rows(db) == []


async def test_a_claim_body_without_organization_is_422(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    add_connection(db, "waba-1", None, status="orphan")

    response = await api.post(
        "/api/v1/admin/orphans/waba-1/claim", json={}, headers=bearer(admin_key(db))
    )

    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]] == [["body", "organization_id"]]
