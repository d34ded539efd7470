"""Coexistence fields: WhatsApp Business app numbers that are also on the Cloud API.

``smb_message_echoes`` are messages the owner sent from the phone app (stored as outbound),
``smb_app_state_sync`` the app's contact book, ``history`` past chats in chunks (each message
stored; media placeholders filled by their follow-up ``messages[]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from domain.commands import ContactSync, CustomerRef, HistoryChunk, Origin, RecordMessage
from domain.messages import record_message
from domain.ports import UnitOfWork
from domain.reports import record_contact_sync, record_history_chunk
from schemas.coexistence import (
    HistoryThread,
    HistoryValue,
    SmbAppStateSyncValue,
    SmbMessageEchoesValue,
)
from schemas.messages import Message, Metadata
from workers.change import Change, Outcome, parse_value, unix_time
from workers.fields.content import item, message_content

#: History shows media as placeholders until their content follows in another webhook.
MEDIA_PLACEHOLDER = "media_placeholder"


def handle_message_echoes(change: Change, uow: UnitOfWork) -> Outcome:
    value = parse_value(SmbMessageEchoesValue, change)
    for index, echo in enumerate(value.message_echoes):
        record_message(
            _command(
                change,
                value.metadata,
                echo,
                raw_key=("message_echoes", index),
                outbound=True,
                customer=CustomerRef(user_id=echo.to_user_id, wa_id=echo.to),
                origin="smb_message_echoes",
            ),
            uow,
        )
    return Outcome.PROCESSED


def handle_state_sync(change: Change, uow: UnitOfWork) -> Outcome:
    value = parse_value(SmbAppStateSyncValue, change)
    for index, sync in enumerate(value.state_sync):
        if sync.contact is None:  # another kind of app state: kept in the event, not acted on
            continue
        stamp = sync.metadata.timestamp if sync.metadata is not None else None
        record_contact_sync(
            ContactSync(
                source=change.source("contact", index),
                waba_id=change.entry_id,
                phone_number_id=value.metadata.phone_number_id,
                contact_phone=sync.contact.phone_number,
                present=sync.action != "remove",
                occurred_at=unix_time(stamp) if stamp is not None else change.occurred_at,
                full_name=sync.contact.full_name,
                first_name=sync.contact.first_name,
            ),
            uow,
        )
    return Outcome.PROCESSED


def handle_history(change: Change, uow: UnitOfWork) -> Outcome:
    value = parse_value(HistoryValue, change)
    metadata = value.metadata
    business = metadata.display_phone_number
    for c_index, chunk in enumerate(value.history):
        raw_threads = change.value["history"][c_index].get("threads") or []
        count = 0
        for thread, raw_thread in zip(chunk.threads, raw_threads, strict=True):
            count += _record_thread(change, uow, metadata, thread, raw_thread)
        chunk_meta = chunk.metadata
        record_history_chunk(
            HistoryChunk(
                source=change.source("chunk", c_index),
                waba_id=change.entry_id,
                phone_number_id=metadata.phone_number_id,
                phase=chunk_meta.phase if chunk_meta else None,
                chunk_order=chunk_meta.chunk_order if chunk_meta else None,
                progress=chunk_meta.progress if chunk_meta else None,
                threads=len(chunk.threads),
                messages=count,
                errors=tuple(error.model_dump(mode="json") for error in chunk.errors),
            ),
            uow,
        )
    for index, message in enumerate(value.messages):
        # The media of an earlier placeholder: same wamid, so it fills the stored message.
        outbound = business is not None and message.from_ == business
        record_message(
            _command(
                change,
                metadata,
                message,
                raw_key=("messages", index),
                outbound=outbound,
                customer=CustomerRef(wa_id=None if outbound else message.from_),
                origin="history",
            ),
            uow,
        )
    return Outcome.PROCESSED


def _record_thread(
    change: Change,
    uow: UnitOfWork,
    metadata: Metadata,
    thread: HistoryThread,
    raw_thread: Mapping[str, Any],
) -> int:
    """Store one chat's past messages; how many there were. ``thread.id`` is the user."""
    business = metadata.display_phone_number
    for index, message in enumerate(thread.messages):
        outbound = message.to is not None or (business is not None and message.from_ == business)
        record_message(
            _command(
                change,
                metadata,
                message,
                raw=item(raw_thread, "messages", index),
                outbound=outbound,
                customer=CustomerRef(wa_id=thread.id),
                origin="history",
            ),
            uow,
        )
    return len(thread.messages)


def _command(
    change: Change,
    metadata: Metadata,
    message: Message,
    *,
    outbound: bool,
    customer: CustomerRef,
    origin: Origin,
    raw_key: tuple[str, int] | None = None,
    raw: Mapping[str, Any] | None = None,
) -> RecordMessage:
    raw_json = item(change.value, *raw_key) if raw_key is not None else raw
    content = message_content(message, raw_json)
    if message.type == MEDIA_PLACEHOLDER:
        # Unknown until the follow-up arrives: left empty so the follow-up fills it.
        content = replace(content, type=None)
    return RecordMessage(
        source=change.source("message", message.id),
        waba_id=change.entry_id,
        phone_number_id=metadata.phone_number_id,
        display_phone_number=metadata.display_phone_number,
        wamid=message.id,
        direction="outbound" if outbound else "inbound",
        origin=origin,
        customer=customer,
        sent_at=unix_time(message.timestamp),
        content=content,
        nul_replaced=change.nul_replaced,
    )
