"""The payload objects of inbound messages, one per ``type`` (text, image, reaction, …).

Shared by ``messages``, ``smb_message_echoes`` and ``history``. Every field is optional unless a
payload means nothing without it (a text without ``body``, a location without coordinates).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from schemas.wire import Timestamp, WireId, WireModel


class Text(WireModel):
    body: str


class Media(WireModel):
    """An image, video, audio, document or sticker; ``id`` is fetched with ``GET /{media-id}``."""

    id: WireId | None = None
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    # A lookaside.fbsbx.com link on recent webhooks; it still needs the bearer token.
    url: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class Location(WireModel):
    """A shared place, or a bare ``latitude``/``longitude`` for a dropped pin."""

    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class ContactName(WireModel):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    prefix: str | None = None


class ContactPhone(WireModel):
    phone: str | None = None
    wa_id: WireId | None = None
    type: str | None = None


class ContactEmail(WireModel):
    email: str | None = None
    type: str | None = None


class ContactAddress(WireModel):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


class ContactOrg(WireModel):
    company: str | None = None
    department: str | None = None
    title: str | None = None


class ContactUrl(WireModel):
    url: str | None = None
    type: str | None = None


class SharedContact(WireModel):
    """One card of a ``contacts`` message (not the sender: that is ``value.contacts``)."""

    name: ContactName | None = None
    phones: list[ContactPhone] = Field(default_factory=list)
    emails: list[ContactEmail] = Field(default_factory=list)
    org: ContactOrg | None = None
    addresses: list[ContactAddress] = Field(default_factory=list)
    urls: list[ContactUrl] = Field(default_factory=list)
    birthday: str | None = None
    vcard: str | None = None
    # "contact_request" or "other" (2026).
    origin: str | None = None


class Reply(WireModel):
    """A tapped reply button or a chosen list row: the ``id`` the business gave it."""

    id: str
    title: str | None = None
    description: str | None = None


class FlowReply(WireModel):
    """A completed WhatsApp Flow; ``response_json`` is a JSON *string*, kept undecoded."""

    name: str | None = None
    body: str | None = None
    response_json: str | None = None


class Interactive(WireModel):
    type: str
    button_reply: Reply | None = None
    list_reply: Reply | None = None
    nfm_reply: FlowReply | None = None

    @property
    def reply(self) -> Reply | None:
        return self.button_reply or self.list_reply


class Button(WireModel):
    """A tapped quick-reply button of a template."""

    payload: str | None = None
    text: str | None = None


class Reaction(WireModel):
    """A reaction to ``message_id``; ``emoji`` None means the reaction was removed."""

    message_id: WireId | None = None
    emoji: str | None = None

    @field_validator("emoji")
    @classmethod
    def _empty_is_removed(cls, emoji: str | None) -> str | None:
        # A removed reaction arrives with `emoji` omitted or, in some captures, as "".
        return emoji or None

    @property
    def removed(self) -> bool:
        return self.emoji is None


class ProductItem(WireModel):
    product_retailer_id: str | None = None
    quantity: int | None = None
    item_price: float | None = None
    currency: str | None = None


class Order(WireModel):
    catalog_id: WireId | None = None
    text: str | None = None
    product_items: list[ProductItem] = Field(default_factory=list)


class Identity(WireModel):
    """Legacy security-code change marker (``customer_identity_changed``)."""

    acknowledged: bool | None = None
    created_timestamp: Timestamp | None = None
    hash: str | None = None


class System(WireModel):
    """``user_changed_number`` / ``user_changed_user_id`` / legacy ``customer_*`` notices."""

    body: str | None = None
    type: str | None = None
    wa_id: WireId | None = None
    user_id: str | None = None
    # The legacy notice carries the identity hash as a string; accept the object form too.
    identity: str | Identity | None = None
    customer: WireId | None = None
    new_wa_id: WireId | None = None


class Referral(WireModel):
    """The Click-to-WhatsApp ad or post the user came from."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None


class ReferredProduct(WireModel):
    catalog_id: WireId | None = None
    product_retailer_id: str | None = None


class Context(WireModel):
    """What a message replies to (``from``/``id``), or its forwarding marks."""

    from_: WireId | None = Field(default=None, alias="from")
    id: WireId | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None
    referred_product: ReferredProduct | None = None


class Unsupported(WireModel):
    # The real type Meta could not deliver, e.g. "poll_creation", "gif".
    type: str | None = None


class Edit(WireModel):
    """The user edited ``original_message_id``; ``message`` is the new content, kept raw."""

    original_message_id: WireId | None = None
    message: dict[str, Any] | None = None


class Revoke(WireModel):
    """The user deleted ``original_message_id``."""

    original_message_id: WireId | None = None
