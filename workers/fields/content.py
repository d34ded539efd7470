"""Wire message → the domain's normalised ``MessageContent`` and ``CustomerRef``.

Shared by the ``messages``, ``smb_message_echoes`` and ``history`` handlers: one message
shape, three fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.commands import CustomerRef, MessageContent
from schemas.messages import Contact, Message


def message_content(message: Message, raw: Mapping[str, Any] | None) -> MessageContent:
    media = message.media
    location = message.location
    return MessageContent(
        type=message.type,
        text=message.text_content or edited_text(message),
        media_id=message.media_id,
        mime_type=media.mime_type if media is not None else None,
        latitude=location.latitude if location is not None else None,
        longitude=location.longitude if location is not None else None,
        location_name=(location.name or location.address) if location is not None else None,
        reply_id=message.interactive_reply_id
        or (message.button.payload if message.button is not None else None),
        related_wamid=related_wamid(message),
        raw=raw,
    )


def edited_text(message: Message) -> str | None:
    """The new text of an edited message (its ``edit.message`` is kept raw by the schema)."""
    new = message.edit.message if message.edit is not None else None
    text = new.get("text") if isinstance(new, Mapping) else None
    body = text.get("body") if isinstance(text, Mapping) else None
    if isinstance(body, str):
        return body
    caption = next(
        (
            part.get("caption")
            for part in (new or {}).values()
            if isinstance(part, Mapping) and isinstance(part.get("caption"), str)
        ),
        None,
    )
    return caption if isinstance(caption, str) else None


def related_wamid(message: Message) -> str | None:
    """The message this one reacts to, edits, revokes or replies to."""
    if message.reaction is not None and message.reaction.message_id:
        return message.reaction.message_id
    if message.edit is not None and message.edit.original_message_id:
        return message.edit.original_message_id
    if message.revoke is not None and message.revoke.original_message_id:
        return message.revoke.original_message_id
    if message.context is not None and message.context.id:
        return message.context.id
    return None


def sender(message: Message, contact: Contact | None) -> CustomerRef:
    """The user who sent an inbound message: its ids, plus the contact's profile."""
    profile = contact.profile if contact is not None else None
    return CustomerRef(
        user_id=message.from_user_id or (contact.user_id if contact is not None else None),
        wa_id=message.from_ or (contact.wa_id if contact is not None else None),
        parent_user_id=message.from_parent_user_id
        or (contact.parent_user_id if contact is not None else None),
        username=profile.username if profile is not None else None,
        name=profile.name if profile is not None else None,
    )


def item(value: Mapping[str, Any], key: str, index: int) -> Mapping[str, Any] | None:
    """The raw JSON of ``value[key][index]`` as Meta sent it (after U+0000 replacement)."""
    items = value.get(key)
    if isinstance(items, list) and index < len(items):
        found = items[index]
        if isinstance(found, Mapping):
            return found
    return None
