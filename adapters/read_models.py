"""What the API reads asynchronously: an organization's messages and message statuses.

(Connections are read by ``adapters.connection_views``, shared with the service functions.)

Read-only queries over the state the workers write (``0005_state.sql``), on the API's own
async pool. Every query is scoped by organization in SQL, so a row of another organization is
never loaded, not merely filtered out afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.postgres import AsyncConn

_MESSAGE_COLUMNS = """
SELECT m.id, m.wamid, m.direction, m.type, m.phone_number_id, m.sent_at, m.text, m.status,
       cu.wa_id, cu.user_id, cu.name, cu.username
  FROM message m
  LEFT JOIN customer cu ON cu.id = m.customer_id
"""
# Keyset paging on the arrival order (``message_organization_idx``): a page costs the same
# however deep it is, and rows that arrive meanwhile never shift the pages already read.
_MESSAGE_PAGE = (
    _MESSAGE_COLUMNS
    + """ WHERE m.organization_id = %(organization_id)s AND m.id > %(after_id)s
 ORDER BY m.id
 LIMIT %(limit)s
"""
)
_MESSAGE = (
    _MESSAGE_COLUMNS + " WHERE m.wamid = %(wamid)s AND m.organization_id = %(organization_id)s"
)
_STATUSES = """
SELECT status, occurred_at, errors
  FROM message_status
 WHERE wamid = %(wamid)s
 ORDER BY occurred_at, status
"""


@dataclass(frozen=True, slots=True)
class CustomerView:
    """All None when the message has no customer (outbound known only from a status)."""

    wa_id: str | None
    user_id: str | None
    name: str | None
    username: str | None


@dataclass(frozen=True, slots=True)
class MessageView:
    id: int  # arrival order; the paging key
    wamid: str
    direction: str
    type: str | None
    phone_number_id: str | None
    sent_at: datetime | None
    text: str | None
    status: str | None
    customer: CustomerView


@dataclass(frozen=True, slots=True)
class StatusView:
    status: str
    occurred_at: datetime
    errors: list[Any]


def _message(row: Any) -> MessageView:
    return MessageView(
        id=row[0],
        wamid=row[1],
        direction=row[2],
        type=row[3],
        phone_number_id=row[4],
        sent_at=row[5],
        text=row[6],
        status=row[7],
        customer=CustomerView(wa_id=row[8], user_id=row[9], name=row[10], username=row[11]),
    )


async def list_messages(
    conn: AsyncConn, organization_id: str, *, after_id: int, limit: int
) -> list[MessageView]:
    """Up to ``limit`` messages of the organization that arrived after ``after_id``."""
    cursor = await conn.execute(
        _MESSAGE_PAGE, {"organization_id": organization_id, "after_id": after_id, "limit": limit}
    )
    return [_message(row) for row in await cursor.fetchall()]


async def load_message(conn: AsyncConn, organization_id: str, wamid: str) -> MessageView | None:
    """The message, or None when it is unknown or belongs to another organization."""
    cursor = await conn.execute(_MESSAGE, {"organization_id": organization_id, "wamid": wamid})
    row = await cursor.fetchone()
    return None if row is None else _message(row)


async def list_message_statuses(conn: AsyncConn, wamid: str) -> list[StatusView]:
    """Every status Meta reported for the message, in the order they happened."""
    cursor = await conn.execute(_STATUSES, {"wamid": wamid})
    return [StatusView(row[0], row[1], row[2]) for row in await cursor.fetchall()]
