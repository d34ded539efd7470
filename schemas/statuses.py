"""``statuses[]`` of the ``messages`` field: what happened to a message the business sent."""

from __future__ import annotations

from pydantic import Field

from schemas.wire import Timestamp, WireError, WireId, WireModel


class Pricing(WireModel):
    # `billable` is being deprecated by Meta; `pricing_model` is "PMP" (or "CBP" before 2025-07).
    billable: bool | None = None
    pricing_model: str | None = None
    type: str | None = None
    category: str | None = None


class ConversationOrigin(WireModel):
    type: str | None = None


class Conversation(WireModel):
    """Omitted from v24.0 on, except for free-entry-point windows."""

    id: WireId | None = None
    expiration_timestamp: Timestamp | None = None
    origin: ConversationOrigin | None = None


class Status(WireModel):
    """One status of an outbound message ``id``: sent, delivered, read, failed, played, or new.

    ``recipient_id`` (the phone) may be absent when the user has a username; then only the
    business-scoped ``recipient_user_id`` identifies them.
    """

    id: WireId
    status: str
    timestamp: Timestamp
    recipient_id: WireId | None = None
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None
    recipient_type: str | None = None
    recipient_participant_id: str | None = None
    recipient_identity_key_hash: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: list[WireError] = Field(default_factory=list)
    pricing: Pricing | None = None
    conversation: Conversation | None = None
