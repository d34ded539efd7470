"""Builders of domain commands with unique ids, for unit tests of the domain rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.commands import (
    AccountEvent,
    CustomerRef,
    MessageContent,
    RecordMessage,
    StatusUpdate,
)
from tests.builders import unique_suffix

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
WABA = "310982745561203"
PHONE = "418275530912846"


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def inbound(
    *,
    wamid: str | None = None,
    text: str = "hello",
    waba_id: str = WABA,
    phone_number_id: str = PHONE,
    customer: CustomerRef | None = None,
    sent_at: datetime = T0,
    source: str | None = None,
    **overrides: Any,
) -> RecordMessage:
    wamid = wamid or f"wamid.IN{unique_suffix()}"
    values: dict[str, Any] = {
        "source": source or f"ev:{wamid}",
        "waba_id": waba_id,
        "phone_number_id": phone_number_id,
        "display_phone_number": "15557650134",
        "wamid": wamid,
        "direction": "inbound",
        "origin": "messages",
        "customer": customer or CustomerRef(user_id="US.1", wa_id="16505550148", name="Marcus"),
        "sent_at": sent_at,
        "content": MessageContent(type="text", text=text),
    }
    values.update(overrides)
    return RecordMessage(**values)


def status(
    wamid: str,
    name: str,
    *,
    occurred_at: datetime = T0,
    waba_id: str = WABA,
    phone_number_id: str = PHONE,
    recipient: CustomerRef | None = None,
    **overrides: Any,
) -> StatusUpdate:
    values: dict[str, Any] = {
        "source": f"ev:{wamid}:{name}",
        "waba_id": waba_id,
        "phone_number_id": phone_number_id,
        "display_phone_number": "15557650134",
        "wamid": wamid,
        "status": name,
        "occurred_at": occurred_at,
        "recipient": recipient or CustomerRef(user_id="US.1", wa_id="16505550148"),
    }
    values.update(overrides)
    return StatusUpdate(**values)


def account_event(
    event: str,
    *,
    waba_id: str = WABA,
    occurred_at: datetime = T0,
    owner_business_id: str | None = "572910384657120",
    source: str | None = None,
    **overrides: Any,
) -> AccountEvent:
    values: dict[str, Any] = {
        "source": source or f"ev:{event}:{unique_suffix()}",
        "waba_id": waba_id,
        "event": event,
        "occurred_at": occurred_at,
        "owner_business_id": owner_business_id,
    }
    values.update(overrides)
    return AccountEvent(**values)
