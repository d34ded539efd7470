"""SQL for customers, messages and statuses, in the caller's transaction.

"Later wins" comparisons use ``COLLATE "C"`` on the source so Postgres orders ties exactly
as the domain (and its fakes) do: by code point.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from adapters.postgres import Conn
from domain.commands import CustomerRef
from domain.messages import ORIGIN_PRECEDENCE
from domain.ports import AsOf, CurrentStatus, StoredMessage, StoredStatus

_LATER_PROFILE = (
    "EXCLUDED.profile_at IS NOT NULL AND (customer.profile_at IS NULL"
    ' OR (EXCLUDED.profile_at, EXCLUDED.profile_source COLLATE "C")'
    ' > (customer.profile_at, customer.profile_source COLLATE "C"))'
)

SAVE_CUSTOMER = f"""
INSERT INTO customer (waba_id, customer_key, user_id, parent_user_id, wa_id, username, name,
                      profile_at, profile_source)
VALUES (%(waba_id)s, %(key)s, %(user_id)s, %(parent_user_id)s, %(wa_id)s, %(username)s,
        %(name)s, %(profile_at)s, %(profile_source)s)
ON CONFLICT (waba_id, customer_key) DO UPDATE SET
    user_id = COALESCE(customer.user_id, EXCLUDED.user_id),
    parent_user_id = COALESCE(customer.parent_user_id, EXCLUDED.parent_user_id),
    wa_id = COALESCE(customer.wa_id, EXCLUDED.wa_id),
    username = CASE WHEN {_LATER_PROFILE} THEN EXCLUDED.username ELSE customer.username END,
    name = CASE WHEN {_LATER_PROFILE} THEN EXCLUDED.name ELSE customer.name END,
    profile_source = CASE WHEN {_LATER_PROFILE}
                          THEN EXCLUDED.profile_source ELSE customer.profile_source END,
    profile_at = CASE WHEN {_LATER_PROFILE} THEN EXCLUDED.profile_at ELSE customer.profile_at END,
    updated_at = now()
RETURNING id
"""

_CONTENT_COLUMNS = (
    "type", "text", "media_id", "mime_type", "latitude", "longitude", "location_name",
    "reply_id", "related_wamid", "raw",
)  # fmt: skip


def _origin_rank(table: str) -> str:
    cases = " ".join(f"WHEN '{origin}' THEN {rank}" for origin, rank in ORIGIN_PRECEDENCE.items())
    return f"(CASE {table}.origin {cases} ELSE -1 END)"


SAVE_MESSAGE = f"""
INSERT INTO message (wamid, direction, origin, organization_id, waba_id, phone_number_id,
                     customer_id, sent_at, nul_replaced, {", ".join(_CONTENT_COLUMNS)})
VALUES (%(wamid)s, %(direction)s, %(origin)s, %(organization_id)s, %(waba_id)s,
        %(phone_number_id)s, %(customer_id)s, %(sent_at)s, %(nul_replaced)s,
        {", ".join(f"%({name})s" for name in _CONTENT_COLUMNS)})
ON CONFLICT (wamid) DO UPDATE SET
    origin = CASE WHEN {_origin_rank("EXCLUDED")} > {_origin_rank("message")}
                  THEN EXCLUDED.origin ELSE message.origin END,
    organization_id = COALESCE(message.organization_id, EXCLUDED.organization_id),
    customer_id = COALESCE(message.customer_id, EXCLUDED.customer_id),
    sent_at = COALESCE(message.sent_at, EXCLUDED.sent_at),
    nul_replaced = message.nul_replaced OR EXCLUDED.nul_replaced,
    {", ".join(f"{name} = COALESCE(message.{name}, EXCLUDED.{name})" for name in _CONTENT_COLUMNS)},
    updated_at = now()
"""

LOCK_STATUS = "SELECT status, status_rank FROM message WHERE wamid = %s FOR UPDATE"

SET_STATUS = """
UPDATE message SET status = %s, status_rank = %s, status_at = %s, updated_at = now()
 WHERE wamid = %s
"""

ATTRIBUTE_WABA = """
UPDATE message SET organization_id = %s, updated_at = now()
 WHERE waba_id = %s AND organization_id IS NULL
"""

ADD_STATUS = """
INSERT INTO message_status (wamid, status, occurred_at, recipient_id, recipient_user_id, errors,
                            pricing, conversation, callback_data, raw)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (wamid, status) DO NOTHING
RETURNING wamid
"""


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


class PgCustomerRepo:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def save(self, waba_id: str, customer_key: str, ref: CustomerRef, as_of: AsOf) -> int:
        has_profile = bool(ref.name or ref.username)
        row = self._conn.execute(
            SAVE_CUSTOMER,
            {
                "waba_id": waba_id,
                "key": customer_key,
                "user_id": ref.user_id,
                "parent_user_id": ref.parent_user_id,
                "wa_id": ref.wa_id,
                "username": ref.username,
                "name": ref.name,
                "profile_at": as_of[0] if has_profile else None,
                "profile_source": as_of[1] if has_profile else None,
            },
        ).fetchone()
        assert row is not None  # INSERT … ON CONFLICT DO UPDATE always returns the row
        return int(row[0])


class PgMessageRepo:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def save(self, message: StoredMessage) -> None:
        content = message.content
        params: dict[str, Any] = {
            name: getattr(content, name) for name in _CONTENT_COLUMNS if name != "raw"
        }
        params.update(
            raw=_json(None if content.raw is None else dict(content.raw)),
            wamid=message.wamid,
            direction=message.direction,
            origin=message.origin,
            organization_id=message.organization_id,
            waba_id=message.waba_id,
            phone_number_id=message.phone_number_id,
            customer_id=message.customer_id,
            sent_at=message.sent_at,
            nul_replaced=message.nul_replaced,
        )
        self._conn.execute(SAVE_MESSAGE, params)

    def current_status(self, wamid: str) -> CurrentStatus | None:
        row = self._conn.execute(LOCK_STATUS, (wamid,)).fetchone()
        return CurrentStatus(row[0], int(row[1])) if row else None

    def set_status(self, wamid: str, status: str, rank: int, at: datetime) -> None:
        self._conn.execute(SET_STATUS, (status, rank, at, wamid))

    def attribute_waba(self, waba_id: str, organization_id: str) -> None:
        self._conn.execute(ATTRIBUTE_WABA, (organization_id, waba_id))


class PgStatusRepo:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def add(self, status: StoredStatus) -> bool:
        row = self._conn.execute(
            ADD_STATUS,
            (
                status.wamid,
                status.status,
                status.occurred_at,
                status.recipient_id,
                status.recipient_user_id,
                Jsonb([dict(error) for error in status.errors]),
                _json(None if status.pricing is None else dict(status.pricing)),
                _json(None if status.conversation is None else dict(status.conversation)),
                status.callback_data,
                Jsonb(dict(status.raw)),
            ),
        ).fetchone()
        return row is not None
