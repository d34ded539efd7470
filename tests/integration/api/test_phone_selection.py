"""``POST /api/v1/connections/{waba_id}/phone``: the SaaS chooses among a WABA's numbers
(SPEC §7.4, §8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from adapters.queue import EVENTS_QUEUE
from tests.integration.api.rows import add_connection, admin_key, bearer, org_key

pytestmark = pytest.mark.anyio

WABA = "102290129340398"


def awaiting(db: psycopg.Connection[Any], organization_id: str | None = "acme") -> None:
    add_connection(
        db,
        WABA,
        organization_id,
        status="awaiting_phone_selection",
        phones=(("2001", "+1 555 0101", "pending"), ("2002", "+1 555 0102", "pending")),
    )


async def choose(
    api: httpx.AsyncClient, key: str, phone_number_id: str, waba_id: str = WABA
) -> httpx.Response:
    return await api.post(
        f"/api/v1/connections/{waba_id}/phone",
        json={"phone_number_id": phone_number_id},
        headers=bearer(key),
    )


async def test_choosing_a_number_connects_it_activates_the_connection_and_wakes_the_job(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], broker_queue: Callable[[str], list[int]]
):
    awaiting(db)

    response = await choose(api, org_key(db, "acme"), "2002")

    assert response.status_code == 200
    assert response.json() == {
        "waba_id": WABA,
        "owner_business_id": "biz-1",
        "status": "active",
        "token_status": "unchecked",
        "reconnect_required": False,
        "reconnect_reason": None,
        "phone_numbers": [
            {"phone_number_id": "2001", "display_phone_number": "+1 555 0101", "status": "pending"},
            {
                "phone_number_id": "2002",
                "display_phone_number": "+1 555 0102",
                "status": "connected",
            },
        ],
    }
    jobs = db.execute("SELECT id, field, job_key, value FROM event WHERE kind = 'job'").fetchall()
    assert [tuple(job[1:]) for job in jobs] == [
        (
            "phone_activation",
            "phone_activation:2002",
            {"waba_id": WABA, "phone_number_id": "2002"},
        )
    ]
    assert broker_queue(EVENTS_QUEUE) == [jobs[0][0]]


async def test_choosing_the_same_number_twice_runs_its_activation_once(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], broker_queue: Callable[[str], list[int]]
):
    awaiting(db)
    key = org_key(db, "acme")

    first = await choose(api, key, "2001")
    second = await choose(api, key, "2001")

    assert (first.status_code, second.status_code) == (200, 200)
    assert db.execute("SELECT count(*) FROM event WHERE kind = 'job'").fetchone() == (1,)


@pytest.mark.parametrize("phone_number_id", ["9999", "3001"], ids=["unknown", "another_wabas"])
async def test_a_number_that_is_not_the_wabas_is_422_on_the_field(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], phone_number_id: str
):
    awaiting(db)
    add_connection(db, "other-waba", "acme", phones=(("3001", None, "connected"),))

    response = await choose(api, org_key(db, "acme"), phone_number_id)

    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]] == [["body", "phone_number_id"]]
    assert db.execute("SELECT status FROM connection WHERE waba_id = %s", (WABA,)).fetchone() == (
        "awaiting_phone_selection",
    )
    assert db.execute("SELECT count(*) FROM event").fetchone() == (0,)


async def test_another_organizations_waba_is_404_and_an_unknown_one_too(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    awaiting(db, "globex")
    key = org_key(db, "acme")

    other = await choose(api, key, "2001")
    unknown = await choose(api, key, "2001", waba_id="404040404")

    assert (other.status_code, other.json()) == (404, {"error": "not_found"})
    assert (unknown.status_code, unknown.json()) == (404, {"error": "not_found"})
    assert db.execute(
        "SELECT status FROM phone_number WHERE phone_number_id = '2001'"
    ).fetchone() == ("pending",)


async def test_an_admin_chooses_for_any_organization(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    awaiting(db, "globex")

    response = await choose(api, admin_key(db), "2001")

    assert (response.status_code, response.json()["status"]) == (200, "active")


async def test_an_invalid_body_is_422(api: httpx.AsyncClient, db: psycopg.Connection[Any]):
    awaiting(db)

    response = await api.post(
        f"/api/v1/connections/{WABA}/phone", json={}, headers=bearer(org_key(db, "acme"))
    )

    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]] == [["body", "phone_number_id"]]
