"""The value of the ``messages`` field: inbound messages, outbound statuses, value-level errors.

``{messaging_product, metadata{display_phone_number, phone_number_id}, contacts[]?,
messages[]?, statuses[]?, errors[]?}``. Route by ``metadata.phone_number_id``. Since 2026 a user
with a username may come without a phone (``from``/``wa_id``); the business-scoped
``from_user_id``/``user_id`` is then the only key.
"""

from __future__ import annotations

from pydantic import Field

from schemas.content import (
    Button,
    ContactAddress,
    ContactEmail,
    ContactName,
    ContactOrg,
    ContactPhone,
    ContactUrl,
    Context,
    Edit,
    FlowReply,
    Identity,
    Interactive,
    Location,
    Media,
    Order,
    ProductItem,
    Reaction,
    Referral,
    ReferredProduct,
    Reply,
    Revoke,
    SharedContact,
    System,
    Text,
    Unsupported,
)
from schemas.statuses import Conversation, ConversationOrigin, Pricing, Status
from schemas.wire import Timestamp, WireError, WireId, WireModel

__all__ = [
    "Button",
    "Contact",
    "ContactAddress",
    "ContactEmail",
    "ContactName",
    "ContactOrg",
    "ContactPhone",
    "ContactUrl",
    "Context",
    "Conversation",
    "ConversationOrigin",
    "Edit",
    "FlowReply",
    "Identity",
    "Interactive",
    "Location",
    "Media",
    "Message",
    "MessagesValue",
    "Metadata",
    "Order",
    "Pricing",
    "ProductItem",
    "Profile",
    "Reaction",
    "Referral",
    "ReferredProduct",
    "Reply",
    "Revoke",
    "SharedContact",
    "Status",
    "System",
    "Text",
    "Unsupported",
]


class Metadata(WireModel):
    """The business number the change concerns; ``phone_number_id`` routes it to a tenant."""

    display_phone_number: str | None = None
    phone_number_id: WireId


class Profile(WireModel):
    name: str | None = None
    username: str | None = None


class Contact(WireModel):
    """The user behind a message or status (``value.contacts[]``)."""

    profile: Profile | None = None
    wa_id: WireId | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    identity_key_hash: str | None = None


class Message(WireModel):
    """One inbound message. ``type`` is any string: unknown types parse and are kept."""

    from_: WireId | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    id: WireId
    timestamp: Timestamp
    type: str
    text: Text | None = None
    image: Media | None = None
    video: Media | None = None
    audio: Media | None = None
    document: Media | None = None
    sticker: Media | None = None
    location: Location | None = None
    contacts: list[SharedContact] | None = None
    interactive: Interactive | None = None
    button: Button | None = None
    reaction: Reaction | None = None
    order: Order | None = None
    system: System | None = None
    referral: Referral | None = None
    context: Context | None = None
    errors: list[WireError] = Field(default_factory=list)
    unsupported: Unsupported | None = None
    edit: Edit | None = None
    revoke: Revoke | None = None
    identity: Identity | None = None
    group_id: str | None = None

    @property
    def media(self) -> Media | None:
        """The image, video, audio, document or sticker payload, if any."""
        for media in (self.image, self.video, self.audio, self.document, self.sticker):
            if media is not None:
                return media
        return None

    @property
    def media_id(self) -> str | None:
        media = self.media
        return media.id if media is not None else None

    @property
    def interactive_reply_id(self) -> str | None:
        """The id of the tapped reply button or chosen list row."""
        if self.interactive is None or self.interactive.reply is None:
            return None
        return self.interactive.reply.id

    @property
    def text_content(self) -> str | None:
        """The message's text as a person reads it: body, caption, button or reply title,
        flow body, system notice, order note or reaction emoji; None when there is none."""
        media = self.media
        texts = (
            self.text.body if self.text is not None else None,
            media.caption if media is not None else None,
            self.button.text if self.button is not None else None,
            self._interactive_text(self.interactive) if self.interactive is not None else None,
            self.system.body if self.system is not None else None,
            (self.order.text or None) if self.order is not None else None,
            self.reaction.emoji if self.reaction is not None else None,
        )
        return next((text for text in texts if text is not None), None)

    @staticmethod
    def _interactive_text(interactive: Interactive) -> str | None:
        if interactive.reply is not None:
            return interactive.reply.title
        if interactive.nfm_reply is not None:
            return interactive.nfm_reply.body
        return None


class MessagesValue(WireModel):
    """The value of a ``messages`` change; only ``metadata`` is required."""

    messaging_product: str | None = None
    metadata: Metadata
    contacts: list[Contact] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list)
    errors: list[WireError] = Field(default_factory=list)

    def contact_for(self, message: Message) -> Contact | None:
        """The contact who sent ``message``: same BSUID, else same phone, else the only one."""
        if message.from_user_id is not None:
            for contact in self.contacts:
                if contact.user_id == message.from_user_id:
                    return contact
        if message.from_ is not None:
            for contact in self.contacts:
                if contact.wa_id == message.from_:
                    return contact
        if len(self.contacts) == 1:
            return self.contacts[0]
        return None
