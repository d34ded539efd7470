"""Values of the coexistence fields (WhatsApp Business app numbers also on the Cloud API).

``smb_message_echoes``: messages the owner sent from the phone app; ``smb_app_state_sync``: the
app's contact list; ``history``: past chats in chunks, or the media of a placeholder later.
"""

from __future__ import annotations

from pydantic import Field

from schemas.messages import Message, Metadata
from schemas.wire import Timestamp, WireError, WireId, WireModel


class MessageEcho(Message):
    """A message the business sent from the app: ``from`` is the business, ``to`` the user."""

    to: WireId | None = None
    to_user_id: str | None = None


class SmbMessageEchoesValue(WireModel):
    messaging_product: str | None = None
    metadata: Metadata
    message_echoes: list[MessageEcho] = Field(default_factory=list)


class SyncedContact(WireModel):
    full_name: str | None = None
    first_name: str | None = None
    phone_number: WireId


class StateSyncMetadata(WireModel):
    # A digit string here, unlike most non-message timestamps.
    timestamp: Timestamp | None = None


class StateSyncItem(WireModel):
    """One change to the app's contacts: ``type`` "contact", ``action`` "add" or "remove"."""

    type: str
    contact: SyncedContact | None = None
    action: str
    metadata: StateSyncMetadata | None = None


class SmbAppStateSyncValue(WireModel):
    messaging_product: str | None = None
    metadata: Metadata
    state_sync: list[StateSyncItem] = Field(default_factory=list)


class HistoryContext(WireModel):
    # Delivery state of a past message, e.g. "READ", "DELIVERED".
    status: str | None = None


class HistoryMessage(Message):
    """A past message; media show as ``type`` "media_placeholder" until their follow-up."""

    to: WireId | None = None
    history_context: HistoryContext | None = None


class HistoryThread(WireModel):
    """The past messages of one chat; ``id`` is the user's phone number."""

    id: WireId
    messages: list[HistoryMessage] = Field(default_factory=list)


class HistoryMetadata(WireModel):
    # phase 0|1|2, progress 0-100; chunks may arrive out of order.
    phase: int | None = None
    chunk_order: int | None = None
    progress: int | None = None


class HistoryChunk(WireModel):
    """A chunk of history; ``errors`` (code 2593109) alone means the owner declined sharing."""

    metadata: HistoryMetadata | None = None
    threads: list[HistoryThread] = Field(default_factory=list)
    errors: list[WireError] = Field(default_factory=list)


class HistoryValue(WireModel):
    """Either ``history[]`` chunks or, for a media follow-up, ``messages[]``."""

    messaging_product: str | None = None
    metadata: Metadata
    history: list[HistoryChunk] = Field(default_factory=list)
    # The media of earlier placeholders (same wamid); past messages too, so `to` may appear.
    messages: list[HistoryMessage] = Field(default_factory=list)
