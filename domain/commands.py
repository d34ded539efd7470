"""Frozen commands: what the workers build from Meta's wire models for the domain to apply.

They hold only the fields the rules use, already normalised (ids as text, times as aware
datetimes, U+0000 replaced). ``source`` names the event (and the item inside it) a command
came from: applying the same source twice is a no-op for every history row it writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Direction = Literal["inbound", "outbound"]
#: Where a message became known: Meta's ``messages`` field, a coexistence echo or history
#: chunk, or only through a status of a message we sent.
Origin = Literal["messages", "smb_message_echoes", "history", "statuses"]


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """A WhatsApp user as a webhook names them; any field may be missing (usernames, 2026)."""

    user_id: str | None = None
    wa_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None
    name: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.user_id or self.wa_id)


@dataclass(frozen=True, slots=True)
class MessageContent:
    """The normalised content of one message (SPEC §6)."""

    type: str | None
    text: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    location_name: str | None = None
    reply_id: str | None = None
    related_wamid: str | None = None
    raw: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RecordMessage:
    """A message to store: inbound from ``messages``/history, outbound from echoes/history."""

    source: str
    waba_id: str
    phone_number_id: str
    display_phone_number: str | None
    wamid: str
    direction: Direction
    origin: Origin
    customer: CustomerRef
    sent_at: datetime
    content: MessageContent
    nul_replaced: bool = False


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One ``statuses[]`` item: what happened to a message the business sent."""

    source: str
    waba_id: str
    phone_number_id: str
    display_phone_number: str | None
    wamid: str
    status: str
    occurred_at: datetime
    recipient: CustomerRef
    errors: tuple[Mapping[str, Any], ...] = ()
    pricing: Mapping[str, Any] | None = None
    conversation: Mapping[str, Any] | None = None
    callback_data: str | None = None
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """An ``account_update`` event about one WABA (routed by ``waba_info.waba_id`` when the
    event carries it, never by ``entry.id`` for PARTNER_* events)."""

    source: str
    waba_id: str
    event: str
    occurred_at: datetime
    owner_business_id: str | None = None
    tracking_code: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class WabaReport:
    """What another WABA field reports about a subject of the WABA (template, number, …).

    ``aspect`` names the piece of state it updates (latest wins); ``None`` records history only.
    """

    source: str
    waba_id: str
    field: str
    kind: str
    subject: str
    occurred_at: datetime
    aspect: str | None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ContactSync:
    """Coexistence ``smb_app_state_sync``: a contact added to or removed from the app."""

    source: str
    waba_id: str
    phone_number_id: str
    contact_phone: str
    present: bool
    occurred_at: datetime
    full_name: str | None = None
    first_name: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryChunk:
    """Coexistence ``history``: one chunk's bookkeeping (its messages are ``RecordMessage``)."""

    source: str
    waba_id: str
    phone_number_id: str
    phase: int | None
    chunk_order: int | None
    progress: int | None
    threads: int
    messages: int
    errors: tuple[Mapping[str, Any], ...] = ()
