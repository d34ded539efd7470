"""Connections as the SaaS and operators read them: numbers and token status (SPEC §8).

Read-only queries, in the caller's transaction, for the service functions that answer with a
connection (the organization's list, phone selection, an orphan's claim) and the orphan list.
The token itself is never selected: only ``business_token.status``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from adapters.postgres import Conn

_VIEW = """
SELECT c.waba_id, c.organization_id, c.owner_business_id, c.status, c.reconnect_reason,
       t.status, p.phone_number_id, p.display_phone_number, p.status
  FROM connection c
  LEFT JOIN business_token t ON t.waba_id = c.waba_id
  LEFT JOIN phone_number p ON p.waba_id = c.waba_id
"""
# Oldest first: a connection onboarded later is listed after the ones the SaaS already knows.
_OF_ORGANIZATION = (
    _VIEW
    + """ WHERE c.organization_id = %s
 ORDER BY c.detected_at, c.waba_id, p.phone_number_id
"""
)
_OF_WABA = _VIEW + " WHERE c.waba_id = %s ORDER BY p.phone_number_id"
_ORPHANS = """
SELECT waba_id, owner_business_id, detected_at
  FROM connection
 WHERE organization_id IS NULL
 ORDER BY detected_at, waba_id
"""


@dataclass(frozen=True, slots=True)
class PhoneNumberView:
    phone_number_id: str
    display_phone_number: str | None
    status: str


@dataclass(frozen=True, slots=True)
class ConnectionView:
    waba_id: str
    organization_id: str | None
    owner_business_id: str | None
    status: str
    reconnect_reason: str | None
    #: ``business_token.status``; None when no token is stored for the WABA.
    token_status: str | None
    phone_numbers: tuple[PhoneNumberView, ...]


@dataclass(frozen=True, slots=True)
class OrphanView:
    waba_id: str
    owner_business_id: str | None
    detected_at: datetime


def _views(rows: Iterable[Any]) -> list[ConnectionView]:
    heads: dict[str, ConnectionView] = {}
    phones: dict[str, list[PhoneNumberView]] = {}
    for waba_id, organization, owner, status, reconnect, token, *phone in rows:
        heads.setdefault(
            waba_id, ConnectionView(waba_id, organization, owner, status, reconnect, token, ())
        )
        numbers = phones.setdefault(waba_id, [])
        if phone[0] is not None:  # LEFT JOIN: a connection with no number yet
            numbers.append(PhoneNumberView(*phone))
    return [replace(head, phone_numbers=tuple(phones[waba_id])) for waba_id, head in heads.items()]


def list_connections(conn: Conn, organization_id: str) -> list[ConnectionView]:
    """The organization's connections, oldest first, each with its numbers."""
    return _views(conn.execute(_OF_ORGANIZATION, (organization_id,)).fetchall())


def load_connection(conn: Conn, waba_id: str) -> ConnectionView | None:
    """The WABA's connection with its numbers, or None when there is none."""
    views = _views(conn.execute(_OF_WABA, (waba_id,)).fetchall())
    return views[0] if views else None


def list_orphans(conn: Conn) -> list[OrphanView]:
    """Connections no organization owns yet, oldest first."""
    return [OrphanView(*row) for row in conn.execute(_ORPHANS).fetchall()]
