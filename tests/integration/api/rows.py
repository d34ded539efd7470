"""Rows the workers would have written, inserted directly: the API only reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from adapters.api_keys import KeyScope, create_api_key, parse_api_key

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def org_key(db: psycopg.Connection[Any], organization_id: str) -> str:
    """A new organization key, as ``wapipe apikeys create --org`` makes it."""
    created = create_api_key(
        db, scope=KeyScope.ORGANIZATION, organization_id=organization_id, name="tests"
    )
    return str(created.key)


def admin_key(db: psycopg.Connection[Any]) -> str:
    return str(create_api_key(db, scope=KeyScope.ADMIN, organization_id=None, name="ops").key)


def key_id_of(key: str) -> str:
    parsed = parse_api_key(key)
    assert parsed is not None
    return parsed.id


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def add_connection(
    db: psycopg.Connection[Any],
    waba_id: str,
    organization_id: str | None,
    *,
    status: str = "active",
    owner_business_id: str | None = "biz-1",
    phones: tuple[tuple[str, str | None, str], ...] = (),
    detected_at: datetime = T0,
) -> None:
    """A connection and its numbers, each ``(phone_number_id, display, status)``."""
    db.execute(
        "INSERT INTO connection (waba_id, organization_id, owner_business_id, status, status_at,"
        " status_source, detected_at) VALUES (%s, %s, %s, %s, %s, 'test', %s)",
        (waba_id, organization_id, owner_business_id, status, detected_at, detected_at),
    )
    for phone_number_id, display, phone_status in phones:
        db.execute(
            "INSERT INTO phone_number (phone_number_id, waba_id, display_phone_number, status)"
            " VALUES (%s, %s, %s, %s)",
            (phone_number_id, waba_id, display, phone_status),
        )


def add_customer(
    db: psycopg.Connection[Any],
    waba_id: str,
    *,
    wa_id: str | None = None,
    user_id: str | None = None,
    name: str | None = None,
    username: str | None = None,
) -> int:
    row = db.execute(
        "INSERT INTO customer (waba_id, customer_key, user_id, wa_id, username, name)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (waba_id, user_id or wa_id or username, user_id, wa_id, username, name),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_message(
    db: psycopg.Connection[Any],
    wamid: str,
    organization_id: str | None,
    *,
    text: str | None = "hello",
    customer_id: int | None = None,
    sent_at: datetime | None = T0,
    direction: str = "inbound",
    type: str | None = "text",
    phone_number_id: str | None = "pn-1",
    status: str | None = None,
) -> int:
    row = db.execute(
        "INSERT INTO message (wamid, direction, organization_id, waba_id, phone_number_id,"
        " customer_id, type, sent_at, text, origin, status)"
        " VALUES (%s, %s, %s, 'waba-1', %s, %s, %s, %s, %s, 'messages', %s) RETURNING id",
        (
            wamid,
            direction,
            organization_id,
            phone_number_id,
            customer_id,
            type,
            sent_at,
            text,
            status,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_status(
    db: psycopg.Connection[Any],
    wamid: str,
    status: str,
    occurred_at: datetime,
    errors: list[dict[str, Any]] | None = None,
) -> None:
    db.execute(
        "INSERT INTO message_status (wamid, status, occurred_at, errors, raw)"
        " VALUES (%s, %s, %s, %s, %s)",
        (wamid, status, occurred_at, Jsonb(errors or []), Jsonb({"status": status})),
    )
