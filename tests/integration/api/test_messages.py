"""``GET /api/v1/organizations/{org}/messages[/{wamid}]`` (SPEC §8, §16)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from tests.integration.api.rows import (
    T0,
    add_customer,
    add_message,
    add_status,
    bearer,
    org_key,
)

pytestmark = pytest.mark.anyio

MESSAGES = "/api/v1/organizations/acme/messages"


@pytest.fixture
def acme(db: psycopg.Connection[Any]) -> dict[str, str]:
    return bearer(org_key(db, "acme"))


async def read_all(
    api: httpx.AsyncClient, headers: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    """Every page from the first until ``next`` is null."""
    pages: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        response = await api.get(MESSAGES, params=params, headers=headers)
        assert response.status_code == 200
        pages.append(response.json())
        if response.json()["next"] is None:
            return pages
        params = {"limit": limit, "after": response.json()["next"]}
        assert len(pages) < 100, "paging never ends"


async def test_paging_returns_every_message_once_in_arrival_order(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    expected = []
    for n in range(7):
        expected.append(f"wamid.A{n}")
        # Sent times out of order: arrival order (the row id) is what pages follow.
        add_message(db, f"wamid.A{n}", "acme", sent_at=T0 - timedelta(minutes=n))
        add_message(db, f"wamid.G{n}", "globex")

    pages = await read_all(api, acme, limit=3)

    assert [len(page["items"]) for page in pages] == [3, 3, 1]
    assert [item["wamid"] for page in pages for item in page["items"]] == expected
    assert pages[-1]["next"] is None


async def test_a_page_that_ends_on_the_last_message_says_there_is_no_next(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    for n in range(4):
        add_message(db, f"wamid.A{n}", "acme")

    pages = await read_all(api, acme, limit=2)

    assert [[item["wamid"] for item in page["items"]] for page in pages] == [
        ["wamid.A0", "wamid.A1"],
        ["wamid.A2", "wamid.A3"],
    ]


async def test_messages_that_arrive_between_pages_come_on_a_later_page(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    for n in range(3):
        add_message(db, f"wamid.A{n}", "acme")
    first = (await api.get(MESSAGES, params={"limit": 2}, headers=acme)).json()

    add_message(db, "wamid.LATE", "acme")
    second = (
        await api.get(MESSAGES, params={"limit": 2, "after": first["next"]}, headers=acme)
    ).json()

    assert [item["wamid"] for item in second["items"]] == ["wamid.A2", "wamid.LATE"]
    assert second["next"] is None


async def test_the_default_page_holds_fifty_messages(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    for n in range(51):
        add_message(db, f"wamid.A{n:02d}", "acme")

    page = (await api.get(MESSAGES, headers=acme)).json()

    assert len(page["items"]) == 50
    assert page["next"] is not None


async def test_an_organization_without_messages_gets_an_empty_last_page(
    api: httpx.AsyncClient, acme: dict[str, str]
):
    response = await api.get(MESSAGES, headers=acme)

    assert response.json() == {"items": [], "next": None}


@pytest.mark.parametrize("limit", ["501", "0", "-1", "ten"])
async def test_a_limit_outside_one_to_five_hundred_is_an_invalid_request(
    api: httpx.AsyncClient, acme: dict[str, str], limit: str
):
    response = await api.get(MESSAGES, params={"limit": limit}, headers=acme)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [field["loc"] for field in body["detail"]] == [["query", "limit"]]
    assert all(field["msg"] for field in body["detail"])


async def test_a_limit_of_five_hundred_is_accepted(api: httpx.AsyncClient, acme: dict[str, str]):
    response = await api.get(MESSAGES, params={"limit": "500"}, headers=acme)

    assert response.status_code == 200


# "MTJ" and "MDEy" decode to 12 and 012 but are not how this API writes them.
@pytest.mark.parametrize("cursor", ["", "!!!", "MTJ", "MDEy", "MTIz=", "bm90IGFuIGlk", "A" * 40])
async def test_a_cursor_this_api_did_not_issue_is_an_invalid_request(
    api: httpx.AsyncClient, acme: dict[str, str], cursor: str
):
    response = await api.get(MESSAGES, params={"after": cursor}, headers=acme)

    assert response.status_code == 422
    assert [field["loc"] for field in response.json()["detail"]] == [["query", "after"]]


async def test_each_bad_parameter_is_named_in_the_errors(
    api: httpx.AsyncClient, acme: dict[str, str]
):
    response = await api.get(
        MESSAGES, params={"limit": "501", "after": "!", "limt": "5"}, headers=acme
    )

    locs = sorted(tuple(field["loc"]) for field in response.json()["detail"])
    assert locs == [("query", "after"), ("query", "limit"), ("query", "limt")]


async def test_a_message_item_carries_its_customer_time_text_and_status(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    customer = add_customer(
        db, "waba-1", wa_id="15550100", user_id="US.123", name="Ana", username="ana"
    )
    add_message(
        db,
        "wamid.A1",
        "acme",
        customer_id=customer,
        text="olá",
        sent_at=datetime.fromisoformat("2026-03-01T09:30:00-03:00"),
        status="read",
    )

    (item,) = (await api.get(MESSAGES, headers=acme)).json()["items"]

    assert item == {
        "wamid": "wamid.A1",
        "direction": "inbound",
        "type": "text",
        "phone_number_id": "pn-1",
        "customer": {"wa_id": "15550100", "user_id": "US.123", "name": "Ana", "username": "ana"},
        "timestamp": "2026-03-01T12:30:00Z",
        "text": "olá",
        "status": "read",
    }


async def test_an_outbound_message_known_only_from_a_status_has_empty_customer_fields(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    add_message(
        db,
        "wamid.OUT",
        "acme",
        direction="outbound",
        type=None,
        text=None,
        sent_at=None,
        status="sent",
    )

    (item,) = (await api.get(MESSAGES, headers=acme)).json()["items"]

    assert item["customer"] == {"wa_id": None, "user_id": None, "name": None, "username": None}
    assert (item["direction"], item["type"], item["timestamp"], item["text"]) == (
        "outbound",
        None,
        None,
        None,
    )


async def test_text_outside_ascii_comes_back_intact(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    text = "Café crème 🎉👍🏽 — 你好 \u202e"
    add_message(db, "wamid.A1", "acme", text=text)

    listed = await api.get(MESSAGES, headers=acme)
    shown = await api.get(f"{MESSAGES}/wamid.A1", headers=acme)

    assert listed.headers["content-type"].startswith("application/json")
    assert listed.json()["items"][0]["text"] == text
    assert shown.json()["text"] == text
    assert text.encode("utf-8") in shown.content  # sent as UTF-8, not as \\u escapes


async def test_a_message_shows_its_statuses_in_the_order_they_happened(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    add_message(db, "wamid.A1", "acme", direction="outbound", status="read")
    error = {"code": 131047, "title": "Re-engagement message", "message": "More than 24 hours"}
    # Recorded out of order, and two at the same second: ordered by time, then status.
    add_status(db, "wamid.A1", "read", T0 + timedelta(seconds=5))
    add_status(db, "wamid.A1", "sent", T0)
    add_status(db, "wamid.A1", "failed", T0 + timedelta(seconds=5), errors=[error])
    add_status(db, "wamid.A1", "delivered", T0 + timedelta(seconds=2))
    add_status(db, "wamid.OTHER", "sent", T0)

    response = await api.get(f"{MESSAGES}/wamid.A1", headers=acme)

    assert response.status_code == 200
    body = response.json()
    assert body["wamid"] == "wamid.A1"
    assert body["statuses"] == [
        {"status": "sent", "timestamp": "2026-03-01T12:00:00Z", "errors": []},
        {"status": "delivered", "timestamp": "2026-03-01T12:00:02Z", "errors": []},
        {"status": "failed", "timestamp": "2026-03-01T12:00:05Z", "errors": [error]},
        {"status": "read", "timestamp": "2026-03-01T12:00:05Z", "errors": []},
    ]


async def test_a_message_without_statuses_shows_an_empty_list(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    add_message(db, "wamid.A1", "acme")

    body = (await api.get(f"{MESSAGES}/wamid.A1", headers=acme)).json()

    assert body["statuses"] == []
    assert body["customer"]["wa_id"] is None


async def test_an_unknown_wamid_is_not_found(api: httpx.AsyncClient, acme: dict[str, str]):
    response = await api.get(f"{MESSAGES}/wamid.NOPE", headers=acme)

    assert (response.status_code, response.json()) == (404, {"error": "not_found"})


async def test_a_wamid_of_another_organization_is_not_found_even_under_ones_own(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    add_message(db, "wamid.G1", "globex")
    add_message(db, "wamid.U1", None)  # unattributed: nobody's

    for wamid in ("wamid.G1", "wamid.U1"):
        response = await api.get(f"{MESSAGES}/{wamid}", headers=acme)
        assert (response.status_code, response.json()) == (404, {"error": "not_found"})


async def test_a_wamid_with_base64_slashes_and_padding_is_found(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], acme: dict[str, str]
):
    wamid = "wamid.HBgLMTU1NTAxMDA/+AgARGBI=="
    add_message(db, wamid, "acme")

    response = await api.get(f"{MESSAGES}/{quote(wamid, safe='')}", headers=acme)

    assert response.status_code == 200
    assert response.json()["wamid"] == wamid
