"""Reading the state the workers write (SQL rows), for integration tests.

``state_snapshot`` reads every state table keyed by its natural key, without surrogate ids and
bookkeeping times, so two moments (before and after a replay) compare with ``==``.
``domain_snapshot`` reads the same rows as the domain's dataclasses, in the shape of
``tests.fakes.FakeUnitOfWork.snapshot()``, so the SQL repositories and the fakes compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from domain.commands import CustomerRef, MessageContent
from domain.ports import (
    BusinessContact,
    ChunkRecord,
    Connection,
    HistoryEntry,
    PhoneNumber,
    StateReport,
    StoredMessage,
    StoredStatus,
)

Conn = psycopg.Connection[Any]
Row = dict[str, Any]

#: Every state table and its natural key.
STATE_TABLES: Mapping[str, tuple[str, ...]] = {
    "connection": ("waba_id",),
    "onboarding": ("tracking_code",),
    "phone_number": ("phone_number_id",),
    "customer": ("waba_id", "customer_key"),
    "message": ("wamid",),
    "message_status": ("wamid", "status"),
    "account_history": ("source",),
    "account_state": ("waba_id", "subject", "aspect"),
    "business_contact": ("phone_number_id", "contact_phone"),
    "history_chunk": ("source",),
}

#: Columns that say when or in which order we wrote a row, not what Meta said.
BOOKKEEPING_COLUMNS = frozenset(
    {"id", "recorded_at", "updated_at", "first_seen_at", "created_at", "detected_at"}
)

#: When a seeded connection last changed: before any webhook a test sends.
SEED_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def rows(conn: Conn, sql: str, params: Any = ()) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return list(cursor.execute(sql, params).fetchall())


def one(conn: Conn, sql: str, params: Any = ()) -> Row | None:
    found = rows(conn, sql, params)
    assert len(found) <= 1, f"expected at most one row, got {len(found)}"
    return found[0] if found else None


def table(conn: Conn, name: str) -> dict[tuple[Any, ...], Row]:
    """A state table keyed by its natural key, bookkeeping columns dropped; a message's
    ``customer_id`` becomes its customer's natural key (``customer``: (waba_id, key))."""
    key = STATE_TABLES[name]
    customers = {
        row["id"]: (row["waba_id"], row["customer_key"])
        for row in rows(conn, "SELECT id, waba_id, customer_key FROM customer")
    }
    result: dict[tuple[Any, ...], Row] = {}
    for row in rows(conn, f"SELECT * FROM {name}"):
        if name == "message":
            row["customer"] = customers.get(row.pop("customer_id"))
        clean = {k: v for k, v in row.items() if k not in BOOKKEEPING_COLUMNS}
        result[tuple(row[k] for k in key)] = clean
    return result


def state_snapshot(conn: Conn) -> dict[str, dict[tuple[Any, ...], Row]]:
    """Every state table as ``table`` reads it."""
    return {name: table(conn, name) for name in STATE_TABLES}


def message(conn: Conn, wamid: str) -> Row | None:
    return table(conn, "message").get((wamid,))


def connection(conn: Conn, waba_id: str) -> Row | None:
    return table(conn, "connection").get((waba_id,))


def event(conn: Conn, event_id: int) -> Row:
    found = one(
        conn,
        "SELECT id, field, status, attempts, nul_replaced FROM event WHERE id = %s",
        (event_id,),
    )
    assert found is not None, f"no event {event_id}"
    return found


def dead_letters(conn: Conn) -> list[Row]:
    return rows(
        conn, "SELECT webhook_id, event_id, field, reason, attempts FROM dead_letter ORDER BY id"
    )


def webhook_body(conn: Conn, webhook_id: int) -> bytes:
    found = one(conn, "SELECT body FROM webhook_log WHERE id = %s", (webhook_id,))
    assert found is not None, f"no webhook {webhook_id}"
    return bytes(found["body"])


def webhook_received_at(conn: Conn, webhook_id: int) -> datetime:
    found = one(conn, "SELECT received_at FROM webhook_log WHERE id = %s", (webhook_id,))
    assert found is not None, f"no webhook {webhook_id}"
    received_at: datetime = found["received_at"]
    return received_at


def seed_connection(
    conn: Conn,
    waba_id: str,
    organization_id: str | None,
    *,
    owner_business_id: str | None = None,
    status: str | None = None,
) -> None:
    """A connection as onboarding leaves it (active, or orphan without an organization),
    last changed long before any webhook of the test."""
    conn.execute(
        "INSERT INTO connection (waba_id, organization_id, owner_business_id, status, status_at,"
        " status_source) VALUES (%s, %s, %s, %s, %s, 'seed')",
        (
            waba_id,
            organization_id,
            owner_business_id,
            status or ("active" if organization_id else "orphan"),
            SEED_TIME,
        ),
    )


def seed_onboarding(conn: Conn, tracking_code: str, organization_id: str, waba_id: str) -> None:
    """An onboarding session that reported ``waba_id`` (its code was exchanged)."""
    conn.execute(
        "INSERT INTO onboarding (tracking_code, organization_id, status, waba_id, expires_at)"
        " VALUES (%s, %s, 'completed', %s, now() + interval '1 day')",
        (tracking_code, organization_id, waba_id),
    )


def domain_snapshot(conn: Conn) -> dict[str, Any]:
    """The state as the domain's dataclasses, shaped like ``FakeUnitOfWork.snapshot()``."""
    customer_keys = {
        row["id"]: (row["waba_id"], row["customer_key"])
        for row in rows(conn, "SELECT id, waba_id, customer_key FROM customer")
    }
    return {
        "connections": {
            row["waba_id"]: Connection(**row)
            for row in rows(
                conn,
                "SELECT waba_id, organization_id, owner_business_id, status, status_reason,"
                " status_at, status_source FROM connection",
            )
        },
        "phones": {
            row["phone_number_id"]: (
                PhoneNumber(
                    row["phone_number_id"],
                    row["waba_id"],
                    row["display_phone_number"],
                    row["status"],
                ),
                row["last_inbound_at"],
            )
            for row in rows(conn, "SELECT * FROM phone_number")
        },
        "customers": {
            (row["waba_id"], row["customer_key"]): (
                CustomerRef(
                    user_id=row["user_id"],
                    wa_id=row["wa_id"],
                    parent_user_id=row["parent_user_id"],
                    username=row["username"],
                    name=row["name"],
                ),
                (row["profile_at"], row["profile_source"])
                if row["profile_at"] is not None
                else None,
            )
            for row in rows(conn, "SELECT * FROM customer")
        },
        "messages": {
            row["wamid"]: (
                _stored_message(row),
                customer_keys.get(row["customer_id"]),
                row["status"],
                row["status_rank"],
                row["status_at"],
            )
            for row in rows(conn, "SELECT * FROM message")
        },
        "statuses": {
            (row["wamid"], row["status"]): StoredStatus(
                wamid=row["wamid"],
                status=row["status"],
                occurred_at=row["occurred_at"],
                recipient_id=row["recipient_id"],
                recipient_user_id=row["recipient_user_id"],
                errors=tuple(row["errors"]),
                pricing=row["pricing"],
                conversation=row["conversation"],
                callback_data=row["callback_data"],
                raw=row["raw"],
            )
            for row in rows(conn, "SELECT * FROM message_status")
        },
        "history": {
            row["source"]: HistoryEntry(
                source=row["source"],
                waba_id=row["waba_id"],
                field=row["field"],
                kind=row["kind"],
                subject=row["subject"],
                occurred_at=row["occurred_at"],
                details=row["details"],
            )
            for row in rows(conn, "SELECT * FROM account_history")
        },
        "state": {
            (row["waba_id"], row["subject"], row["aspect"]): StateReport(
                row["waba_id"],
                row["subject"],
                row["aspect"],
                row["value"],
                (row["as_of"], row["source"]),
            )
            for row in rows(conn, "SELECT * FROM account_state")
        },
        "contacts": {
            (row["phone_number_id"], row["contact_phone"]): BusinessContact(
                phone_number_id=row["phone_number_id"],
                contact_phone=row["contact_phone"],
                waba_id=row["waba_id"],
                full_name=row["full_name"],
                first_name=row["first_name"],
                present=row["present"],
                as_of=(row["as_of"], row["source"]),
            )
            for row in rows(conn, "SELECT * FROM business_contact")
        },
        "chunks": {
            row["source"]: ChunkRecord(
                source=row["source"],
                waba_id=row["waba_id"],
                phone_number_id=row["phone_number_id"],
                phase=row["phase"],
                chunk_order=row["chunk_order"],
                progress=row["progress"],
                threads=row["threads"],
                messages=row["messages"],
                errors=tuple(row["errors"]),
            )
            for row in rows(conn, "SELECT * FROM history_chunk")
        },
    }


def _stored_message(row: Row) -> StoredMessage:
    return StoredMessage(
        wamid=row["wamid"],
        direction=row["direction"],
        origin=row["origin"],
        organization_id=row["organization_id"],
        waba_id=row["waba_id"],
        phone_number_id=row["phone_number_id"],
        customer_id=None,  # compared by the customer's natural key instead
        sent_at=row["sent_at"],
        content=MessageContent(
            type=row["type"],
            text=row["text"],
            media_id=row["media_id"],
            mime_type=row["mime_type"],
            latitude=row["latitude"],
            longitude=row["longitude"],
            location_name=row["location_name"],
            reply_id=row["reply_id"],
            related_wamid=row["related_wamid"],
            raw=row["raw"],
        ),
        nul_replaced=row["nul_replaced"],
    )
