"""Builders of full webhook envelopes for every shape in the Meta fact sheet (FACTS.md §5-§9).

Each builder returns the envelope as a dict (encode it with ``tests.builders.wire_bytes``).
Every id a test may care about is a keyword override (``Ids``); the defaults are unique per
call, so two builds never collide as duplicate deliveries. Keys a builder does not use are
ignored. ``ALL_SHAPES`` names every builder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from tests.builders import envelope, unique_suffix

Payload = dict[str, Any]

DISPLAY_PHONE_NUMBER = "15557650134"
BASE_TIMESTAMP = 1768471200
ERROR_HREF = (
    "https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes"
)


class Ids(TypedDict, total=False):
    """The ids a test may pin; any left out get unique defaults."""

    waba_id: str
    phone_number_id: str
    wamid: str
    wa_id: str
    user_id: str
    timestamp: int
    business_id: str  # the customer's business portfolio (owner_business_id)
    partner_business_id: str  # ours: the entry.id of PARTNER_* account updates
    template_id: str


@dataclass(frozen=True, slots=True)
class _Resolved:
    waba_id: str
    phone_number_id: str
    wamid: str
    wa_id: str
    user_id: str
    timestamp: int
    business_id: str
    partner_business_id: str
    template_id: str


def _resolve(ids: Ids) -> _Resolved:
    n = unique_suffix()
    return _Resolved(
        waba_id=ids.get("waba_id", f"310982{n}203"),
        phone_number_id=ids.get("phone_number_id", f"418275{n}846"),
        wamid=ids.get("wamid", f"wamid.HBgLMTY1MDU1NTAxNDgVAgASGCB{n}SHAPE="),
        wa_id=ids.get("wa_id", f"16505{n}"),
        user_id=ids.get("user_id", f"US.7031{n}55109382"),
        timestamp=ids.get("timestamp", BASE_TIMESTAMP + int(n)),
        business_id=ids.get("business_id", f"572910{n}120"),
        partner_business_id=ids.get("partner_business_id", f"184736{n}874"),
        template_id=ids.get("template_id", f"1093847{n}384"),
    )


def _metadata(i: _Resolved) -> Payload:
    return {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": i.phone_number_id}


def _contact(i: _Resolved, name: str = "Marcus Reed") -> Payload:
    return {"profile": {"name": name}, "wa_id": i.wa_id, "user_id": i.user_id}


def _error(code: int, title: str, details: str) -> Payload:
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": ERROR_HREF,
    }


def _messages_value(i: _Resolved, **keys: Any) -> Payload:
    return {"messaging_product": "whatsapp", "metadata": _metadata(i), **keys}


def _waba_change(field: str, value: Payload, i: _Resolved, entry_id: str | None = None) -> Payload:
    # WABA-level fields carry entry.time (int seconds); messages webhooks do not.
    payload = envelope((field, value), entry_id=entry_id or i.waba_id)
    payload["entry"][0]["time"] = i.timestamp
    return payload


# -- messages: inbound --------------------------------------------------------------------


def _inbound(type_: str, content: Payload, i: _Resolved, **extra: Any) -> Payload:
    """A ``messages`` webhook with one inbound message of ``type_`` (``content`` merged in)."""
    message = {
        "from": i.wa_id,
        "from_user_id": i.user_id,
        "id": i.wamid,
        "timestamp": str(i.timestamp),
        "type": type_,
        **content,
        **extra,
    }
    value = _messages_value(i, contacts=[_contact(i)], messages=[message])
    return envelope(("messages", value), entry_id=i.waba_id)


def message_text(body: str | None = None, **ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    text = body if body is not None else f"caf\u00e9 / n\u00ba {i.wa_id} \U0001f600"
    return _inbound("text", {"text": {"body": text}}, i)


def _media(i: _Resolved, mime_type: str, **keys: Any) -> Payload:
    media_id = f"28709{i.timestamp}"
    return {
        "mime_type": mime_type,
        "sha256": "eYLdxX/8aA37WvVObV5Mvc5iZmdnf1xD2UXFjSFvujY=",
        "id": media_id,
        "url": f"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={media_id}",
        **keys,
    }


def message_image(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    image = _media(i, "image/jpeg", caption="Kratzer am Geh\u00e4use")
    return _inbound("image", {"image": image}, i)


def message_video(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _inbound("video", {"video": _media(i, "video/mp4", caption="unboxing")}, i)


def message_audio(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _inbound("audio", {"audio": _media(i, "audio/mpeg", voice=False)}, i)


def message_voice(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _inbound("audio", {"audio": _media(i, "audio/ogg; codecs=opus", voice=True)}, i)


def message_document(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    document = _media(
        i, "application/pdf", caption="Rechnung M\u00e4rz", filename="Rechnung-2026-03.pdf"
    )
    return _inbound("document", {"document": document}, i)


def message_sticker(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _inbound("sticker", {"sticker": _media(i, "image/webp", animated=True)}, i)


def message_location(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    location = {
        "latitude": 37.4611978,
        "longitude": -122.2164385,
        "name": "Meta HQ",
        "address": "1 Hacker Way, Menlo Park, CA 94025",
        "url": "https://maps.google.com/?cid=2000000000000000000",
    }
    return _inbound("location", {"location": location}, i)


def message_location_pin(**ids: Unpack[Ids]) -> Payload:
    """A dropped pin: bare coordinates."""
    i = _resolve(ids)
    return _inbound("location", {"location": {"latitude": -34.6037, "longitude": -58.3816}}, i)


def message_contacts(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    card = {
        "name": {"formatted_name": "Chandler Bing", "first_name": "Chandler", "last_name": "Bing"},
        "phones": [{"phone": "+1 555-555-5555", "wa_id": "15555555555", "type": "CELL"}],
        "emails": [{"email": "chandler@example.com", "type": "WORK"}],
        "org": {"company": "Example Inc.", "title": "Transponster"},
        "addresses": [{"city": "New York", "country_code": "us", "type": "HOME"}],
        "urls": [{"url": "https://example.com", "type": "WORK"}],
        "birthday": "1968-04-08",
        "vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Chandler Bing\nEND:VCARD",
        "origin": "contact_request",
    }
    second = {"name": {"formatted_name": "Monica"}, "phones": [{"phone": "+1 666-666-6666"}]}
    return _inbound("contacts", {"contacts": [card, second]}, i)


def message_interactive_button_reply(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    interactive = {
        "type": "button_reply",
        "button_reply": {"id": "confirm-order-8841", "title": "Confirm"},
    }
    return _inbound("interactive", {"interactive": interactive}, i, context=_reply_context(i))


def message_interactive_list_reply(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    interactive = {
        "type": "list_reply",
        "list_reply": {"id": "slot-0930", "title": "9:30", "description": "Tomorrow morning"},
    }
    return _inbound("interactive", {"interactive": interactive}, i, context=_reply_context(i))


def message_interactive_nfm_reply(**ids: Unpack[Ids]) -> Payload:
    """A completed WhatsApp Flow (``response_json`` is a JSON string)."""
    i = _resolve(ids)
    interactive = {
        "type": "nfm_reply",
        "nfm_reply": {
            "name": "flow",
            "body": "Sent",
            "response_json": '{"flow_token":"ft-1","size":"M"}',
        },
    }
    return _inbound("interactive", {"interactive": interactive}, i, context=_reply_context(i))


def message_button(**ids: Unpack[Ids]) -> Payload:
    """A tapped quick-reply button of a template."""
    i = _resolve(ids)
    button = {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"}
    return _inbound("button", {"button": button}, i, context=_reply_context(i))


def message_reaction(emoji: str = "\U0001f44d", **ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    reaction = {"message_id": f"wamid.REACTED{i.timestamp}", "emoji": emoji}
    return _inbound("reaction", {"reaction": reaction}, i)


def message_reaction_removed(**ids: Unpack[Ids]) -> Payload:
    """A removed reaction: ``emoji`` omitted (Meta's documented form)."""
    i = _resolve(ids)
    return _inbound("reaction", {"reaction": {"message_id": f"wamid.REACTED{i.timestamp}"}}, i)


def message_reaction_removed_empty(**ids: Unpack[Ids]) -> Payload:
    """A removed reaction with ``emoji: ""`` (seen in pywa's data)."""
    return message_reaction(emoji="", **ids)


def message_order(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    order = {
        "catalog_id": "354160437058781",
        "text": "Extra ketchup please",
        "product_items": [
            {
                "product_retailer_id": "HAMBURGER",
                "quantity": 3,
                "item_price": 30,
                "currency": "ILS",
            },
            {"product_retailer_id": "SODA", "quantity": 2, "item_price": 9.5, "currency": "ILS"},
        ],
    }
    return _inbound("order", {"order": order}, i)


def _system(i: _Resolved, system: Payload, **extra: Any) -> Payload:
    # System messages come without contacts[] (FACTS §5.4).
    message = {
        "from": i.wa_id,
        "id": i.wamid,
        "timestamp": str(i.timestamp),
        "type": "system",
        "system": system,
        **extra,
    }
    return envelope(("messages", _messages_value(i, messages=[message])), entry_id=i.waba_id)


def message_system_user_changed_number(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    new_number = f"9{i.wa_id}"
    system = {
        "body": f"User A changed from \u200e{i.wa_id} to {new_number}\u200e",
        "wa_id": new_number,
        "type": "user_changed_number",
    }
    return _system(i, system)


def message_system_user_changed_user_id(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    system = {
        "body": "User A changed their business-scoped user ID",
        "user_id": f"{i.user_id}9",
        "type": "user_changed_user_id",
    }
    return _system(i, system, from_user_id=i.user_id)


def message_system_customer_identity_changed(**ids: Unpack[Ids]) -> Payload:
    """The legacy security-code notice, with the message-level ``identity`` block."""
    i = _resolve(ids)
    system = {
        "body": "User A's security code changed",
        "customer": i.wa_id,
        "identity": "Sgm2ZaUbpVE=",
        "type": "customer_identity_changed",
    }
    identity = {
        "acknowledged": False,
        "created_timestamp": str(i.timestamp),
        "hash": "Sgm2ZaUbpVE=",
    }
    return _system(i, system, identity=identity)


def message_unsupported(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    error = _error(131051, "Message type unknown", "Message type is currently not supported.")
    return _inbound("unsupported", {"unsupported": {"type": "poll_creation"}}, i, errors=[error])


def message_unsupported_unavailable(**ids: Unpack[Ids]) -> Payload:
    """Typical first message to a coexistence number (131060)."""
    i = _resolve(ids)
    error = _error(
        131060, "Message currently unavailable", "This message is currently unavailable."
    )
    return _inbound("unsupported", {}, i, errors=[error])


def message_edit(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    edit = {
        "original_message_id": f"wamid.ORIGINAL{i.timestamp}",
        "message": {"type": "text", "text": {"body": "Size L, not M"}},
    }
    return _inbound("edit", {"edit": edit}, i)


def message_revoke(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _inbound(
        "revoke", {"revoke": {"original_message_id": f"wamid.ORIGINAL{i.timestamp}"}}, i
    )


def message_request_welcome(**ids: Unpack[Ids]) -> Payload:
    """The user opened the chat for the first time; no payload key."""
    i = _resolve(ids)
    return _inbound("request_welcome", {}, i)


def message_unknown_type(**ids: Unpack[Ids]) -> Payload:
    """A type Meta may add next quarter, with its own payload key."""
    i = _resolve(ids)
    return _inbound("hologram", {"hologram": {"frames": 24, "label": "hi"}}, i)


def message_with_referral(**ids: Unpack[Ids]) -> Payload:
    """A text that came from a Click-to-WhatsApp ad."""
    i = _resolve(ids)
    referral = {
        "source_url": "https://fb.me/3cr4Wqqkk",
        "source_id": "120226305854810726",
        "source_type": "ad",
        "headline": "Winter sale",
        "body": "Jackets -30 %",
        "media_type": "image",
        "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.jpg",
        "thumbnail_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/thumb.jpg",
        "ctwa_clid": f"ARAkLkA8rmlFeiCktEJQ-{i.timestamp}",
    }
    return _inbound("text", {"text": {"body": "Is this still on?"}}, i, referral=referral)


def _reply_context(i: _Resolved) -> Payload:
    return {"from": DISPLAY_PHONE_NUMBER, "id": f"wamid.OUTBOUND{i.timestamp}"}


def message_reply(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _inbound("text", {"text": {"body": "Yes please"}}, i, context=_reply_context(i))


def message_forwarded(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _inbound("text", {"text": {"body": "look at this"}}, i, context={"forwarded": True})


def message_frequently_forwarded(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    context = {"frequently_forwarded": True}
    return _inbound("text", {"text": {"body": "chain letter"}}, i, context=context)


def message_product_enquiry(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    context = {
        "from": DISPLAY_PHONE_NUMBER,
        "id": f"wamid.CATALOG{i.timestamp}",
        "referred_product": {"catalog_id": "354160437058781", "product_retailer_id": "JACKET-M"},
    }
    return _inbound("text", {"text": {"body": "In blue?"}}, i, context=context)


def message_from_username_user(**ids: Unpack[Ids]) -> Payload:
    """A user with a username: no phone anywhere, only the business-scoped user id (2026)."""
    i = _resolve(ids)
    contact = {"profile": {"name": "Marcus", "username": "@marcusreed"}, "user_id": i.user_id}
    message = {
        "from_user_id": i.user_id,
        "id": i.wamid,
        "timestamp": str(i.timestamp),
        "type": "text",
        "text": {"body": "hi from my username"},
    }
    value = _messages_value(i, contacts=[contact], messages=[message])
    return envelope(("messages", value), entry_id=i.waba_id)


def message_in_group(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _inbound("text", {"text": {"body": "hi all"}}, i, group_id=f"120363{i.timestamp}")


def message_interactive_with_value_error(**ids: Unpack[Ids]) -> Payload:
    """An ``interactive`` message that came without its payload, plus value.errors 131000."""
    i = _resolve(ids)
    payload = _inbound("interactive", {}, i, context=_reply_context(i))
    value = payload["entry"][0]["changes"][0]["value"]
    value["errors"] = [_error(131000, "Something went wrong", "Unsupported webhook payload")]
    return payload


def value_errors_rate_limit(**ids: Unpack[Ids]) -> Payload:
    """An out-of-band error: metadata and errors, no messages or statuses."""
    i = _resolve(ids)
    error = _error(130429, "Rate limit hit", "Cloud API message throughput has been reached.")
    return envelope(("messages", _messages_value(i, errors=[error])), entry_id=i.waba_id)


# -- messages: statuses -------------------------------------------------------------------


def _status(i: _Resolved, status: str, *, contacts: bool = True, **keys: Any) -> Payload:
    entry = {
        "id": i.wamid,
        "status": status,
        "timestamp": str(i.timestamp),
        "recipient_id": i.wa_id,
        "recipient_user_id": i.user_id,
        **keys,
    }
    # Since 2026 sent/delivered/read statuses carry contacts[]; failed ones do not.
    users = {"contacts": [_contact(i)]} if contacts else {}
    value = _messages_value(i, **users, statuses=[entry])
    return envelope(("messages", value), entry_id=i.waba_id)


def _pricing(category: str = "marketing") -> Payload:
    return {"billable": True, "pricing_model": "PMP", "type": "regular", "category": category}


def status_sent(**ids: Unpack[Ids]) -> Payload:
    """``sent`` with pricing, a free-entry-point conversation and a callback tag."""
    i = _resolve(ids)
    conversation = {
        "id": f"7270432eae37498234f4444b35{i.timestamp}",
        "expiration_timestamp": str(i.timestamp + 86400),
        "origin": {"type": "referral_conversion"},
    }
    return _status(
        i,
        "sent",
        biz_opaque_callback_data="tenant=acme;campaign=jan-restock",
        pricing=_pricing(),
        conversation=conversation,
    )


def status_delivered(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _status(i, "delivered", pricing=_pricing())


def status_read(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _status(i, "read")


def status_played(**ids: Unpack[Ids]) -> Payload:
    """First play of a voice message."""
    i = _resolve(ids)
    return _status(i, "played")


def status_failed(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    error = _error(
        131049,
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    )
    return _status(i, "failed", contacts=False, errors=[error])


def status_without_recipient_id(**ids: Unpack[Ids]) -> Payload:
    """A status for a BSUID send: no phone, only ``recipient_user_id``."""
    i = _resolve(ids)
    payload = _status(i, "delivered", pricing=_pricing("utility"))
    value = payload["entry"][0]["changes"][0]["value"]
    del value["statuses"][0]["recipient_id"]
    del value["contacts"][0]["wa_id"]
    return payload


def status_unknown(**ids: Unpack[Ids]) -> Payload:
    """A status value Meta may add later."""
    i = _resolve(ids)
    return _status(i, "deleted_by_recipient")


# -- account_update ------------------------------------------------------------------------


def _account_update(i: _Resolved, value: Payload, *, partner_entry: bool = False) -> Payload:
    # PARTNER_* (and AD_ACCOUNT_LINKED, MM_LITE_TERMS_SIGNED) use our business portfolio as
    # entry.id; everything else uses the WABA (FACTS §4).
    entry_id = i.partner_business_id if partner_entry else i.waba_id
    return _waba_change("account_update", value, i, entry_id=entry_id)


def _waba_info(i: _Resolved, **keys: Any) -> Payload:
    return {"waba_id": i.waba_id, "owner_business_id": i.business_id, **keys}


def account_update_partner_added(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {"event": "PARTNER_ADDED", "waba_info": _waba_info(i)}
    return _account_update(i, value, partner_entry=True)


def account_update_partner_added_with_solution(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    waba_info = _waba_info(
        i,
        solution_id="1715120619246906",
        solution_partner_business_ids=[i.partner_business_id, "520744086200222"],
    )
    value = {"event": "PARTNER_ADDED", "waba_info": waba_info}
    return _account_update(i, value, partner_entry=True)


def account_update_partner_app_installed(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    waba_info = _waba_info(
        i,
        partner_app_id="903847561203948",
        solution_id="661039284756102",
        solution_partner_business_ids=[i.partner_business_id],
    )
    value = {"event": "PARTNER_APP_INSTALLED", "waba_info": waba_info}
    return _account_update(i, value, partner_entry=True)


def account_update_partner_app_uninstalled(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    waba_info = _waba_info(i, partner_app_id="903847561203948")
    value = {"event": "PARTNER_APP_UNINSTALLED", "waba_info": waba_info}
    return _account_update(i, value, partner_entry=True)


def account_update_partner_removed(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {"event": "PARTNER_REMOVED", "waba_info": _waba_info(i)}
    return _account_update(i, value, partner_entry=True)


def account_update_partner_removed_disconnected(**ids: Unpack[Ids]) -> Payload:
    """A coexistence number went away (inactivity on the phone)."""
    i = _resolve(ids)
    value = {
        "event": "PARTNER_REMOVED",
        "waba_info": _waba_info(i),
        "disconnection_info": {"reason": "PRIMARY_INACTIVITY", "initiated_by": "SYSTEM"},
    }
    return _account_update(i, value, partner_entry=True)


def account_update_partner_client_certification(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {
        "event": "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE",
        "partner_client_certification_info": {
            "client_business_id": i.business_id,
            "status": "REJECTED",
            "rejection_reasons": ["LEGAL_NAME_NOT_FOUND_IN_DOCUMENTS"],
        },
    }
    return _account_update(i, value)


def account_update_account_violation(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}}
    return _account_update(i, value)


def account_update_disabled(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    ban_info = {"waba_ban_state": "SCHEDULE_FOR_DISABLE", "waba_ban_date": "April 17, 2025"}
    return _account_update(i, {"event": "DISABLED_UPDATE", "ban_info": ban_info})


def account_update_restriction(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    restrictions = [
        {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": i.timestamp},
        {
            "restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION",
            "expiration": i.timestamp + 3600,
            "remediation": "Review the commerce policy",
        },
    ]
    return _account_update(i, {"event": "ACCOUNT_RESTRICTION", "restriction_info": restrictions})


def account_update_deleted(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _account_update(i, {"event": "ACCOUNT_DELETED"})


def account_update_offboarded(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _account_update(i, {"event": "ACCOUNT_OFFBOARDED"})


def account_update_reconnected(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _account_update(i, {"event": "ACCOUNT_RECONNECTED"})


def account_update_ad_account_linked(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    waba_info = _waba_info(i, ad_account_linked="980198427534243")
    value = {"event": "AD_ACCOUNT_LINKED", "waba_info": waba_info}
    return _account_update(i, value, partner_entry=True)


def account_update_mm_lite_terms_signed(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {"event": "MM_LITE_TERMS_SIGNED", "waba_info": _waba_info(i)}
    return _account_update(i, value, partner_entry=True)


def account_update_auth_intl_price_eligibility(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    eligibility = {
        "exception_countries": [{"country_code": "ID", "start_time": i.timestamp + 86400}],
        "start_time": i.timestamp,
    }
    value = {
        "event": "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE",
        "auth_international_rate_eligibility": eligibility,
    }
    return _account_update(i, value)


def account_update_primary_location_country(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _account_update(
        i, {"event": "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", "country": "IN"}
    )


def account_update_volume_tier(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    tier = {
        "tier_update_time": i.timestamp,
        "pricing_category": "UTILITY",
        "tier": "25000001:50000000",
        "effective_month": "2026-02",
        "region": "India",
    }
    value = {"event": "VOLUME_BASED_PRICING_TIER_UPDATE", "volume_tier_info": tier}
    return _account_update(i, value)


def account_update_verified_account(**ids: Unpack[Ids]) -> Payload:
    """Legacy ``VERIFIED_ACCOUNT`` (still in Meta's partner examples)."""
    i = _resolve(ids)
    value = {"event": "VERIFIED_ACCOUNT", "phone_number": DISPLAY_PHONE_NUMBER}
    return _account_update(i, value)


def account_update_unknown_event(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {"event": "ACCOUNT_TELEPORTED", "teleport_info": {"destination": "moon"}}
    return _account_update(i, value)


# -- coexistence ---------------------------------------------------------------------------


def _echo(i: _Resolved, type_: str, content: Payload) -> Payload:
    echo = {
        "from": DISPLAY_PHONE_NUMBER,
        "to": i.wa_id,
        "id": i.wamid,
        "timestamp": str(i.timestamp),
        "type": type_,
        **content,
    }
    value = _messages_value(i, message_echoes=[echo])
    return envelope(("smb_message_echoes", value), entry_id=i.waba_id)


def smb_message_echo_text(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _echo(i, "text", {"text": {"body": "\u00a1Listo! Te lo env\u00edo ma\u00f1ana."}})


def smb_message_echo_image(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _echo(i, "image", {"image": _media(i, "image/jpeg", caption="tu pedido")})


def smb_message_echo_revoke(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _echo(i, "revoke", {"revoke": {"original_message_id": f"wamid.ECHO{i.timestamp}"}})


def smb_message_echo_edit(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    edit = {
        "original_message_id": f"wamid.ECHO{i.timestamp}",
        "message": {"type": "text", "text": {"body": "Te lo env\u00edo el lunes."}},
    }
    return _echo(i, "edit", {"edit": edit})


def _state_sync(i: _Resolved, action: str, contact: Payload) -> Payload:
    item = {
        "type": "contact",
        "contact": contact,
        "action": action,
        "metadata": {"timestamp": str(i.timestamp)},
    }
    value = _messages_value(i, state_sync=[item])
    return envelope(("smb_app_state_sync", value), entry_id=i.waba_id)


def smb_app_state_sync_add(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    contact = {
        "full_name": "Luc\u00eda Fern\u00e1ndez",
        "first_name": "Luc\u00eda",
        "phone_number": i.wa_id,
    }
    return _state_sync(i, "add", contact)


def smb_app_state_sync_remove(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _state_sync(i, "remove", {"phone_number": i.wa_id})


def history_chunk(**ids: Unpack[Ids]) -> Payload:
    """One chunk of shared chat history: a thread with texts and a media placeholder.

    ``wamid`` is the placeholder's id, so ``history_media`` with the same wamid fills it.
    """
    i = _resolve(ids)
    messages = [
        {
            "from": DISPLAY_PHONE_NUMBER,
            "to": i.wa_id,
            "id": f"wamid.HIST1{i.timestamp}",
            "timestamp": str(i.timestamp - 600),
            "type": "text",
            "text": {"body": "Hola Luc\u00eda, ya tenemos tu pedido."},
            "history_context": {"status": "READ"},
        },
        {
            "from": DISPLAY_PHONE_NUMBER,
            "to": i.wa_id,
            "id": i.wamid,
            "timestamp": str(i.timestamp - 580),
            "type": "media_placeholder",
            "history_context": {"status": "DELIVERED"},
        },
        {
            "from": i.wa_id,
            "id": f"wamid.HIST3{i.timestamp}",
            "timestamp": str(i.timestamp),
            "type": "text",
            "text": {"body": "\u00a1Genial, gracias! \U0001f64c"},
        },
    ]
    chunk = {
        "metadata": {"phase": 0, "chunk_order": 1, "progress": 40},
        "threads": [{"id": i.wa_id, "messages": messages}],
    }
    value = _messages_value(i, history=[chunk])
    return envelope(("history", value), entry_id=i.waba_id)


def history_media(**ids: Unpack[Ids]) -> Payload:
    """The media of a placeholder, sent later in a ``history`` value's ``messages[]``."""
    i = _resolve(ids)
    message = {
        "from": DISPLAY_PHONE_NUMBER,
        "id": i.wamid,
        "timestamp": str(i.timestamp),
        "type": "image",
        "image": _media(i, "image/jpeg"),
    }
    value = _messages_value(i, messages=[message])
    return envelope(("history", value), entry_id=i.waba_id)


def history_declined(**ids: Unpack[Ids]) -> Payload:
    """The owner declined to share chat history."""
    i = _resolve(ids)
    error = _error(2593109, "History sync declined", "The business declined to share chat history.")
    value = _messages_value(i, history=[{"errors": [error]}])
    return envelope(("history", value), entry_id=i.waba_id)


# -- other WABA fields ---------------------------------------------------------------------


def _template(i: _Resolved, **keys: Any) -> Payload:
    return {
        # An int on the wire, unlike most ids.
        "message_template_id": int(i.template_id),
        "message_template_name": "restock_alert_v2",
        "message_template_language": "es_AR",
        **keys,
    }


def message_template_status_update(event: str = "REJECTED", **ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = _template(
        i,
        event=event,
        reason="INVALID_FORMAT",
        message_template_category="MARKETING",
        rejection_info={
            "reason": "Two variables are placed next to each other.",
            "recommendation": "Add words between {{1}} and {{2}}.",
        },
    )
    return _waba_change("message_template_status_update", value, i)


def message_template_status_disabled(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = _template(
        i,
        event="DISABLED",
        reason=None,
        disable_info={"disable_date": "January 20, 2026"},
        other_info={"title": "Template disabled", "description": "Low quality"},
    )
    return _waba_change("message_template_status_update", value, i)


def message_template_quality_update(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = _template(i, previous_quality_score="GREEN", new_quality_score="YELLOW")
    return _waba_change("message_template_quality_update", value, i)


def message_template_components_update(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = _template(
        i,
        message_template_title="Back in stock!",
        message_template_element="Hi {{1}}, the {{2}} is back.",
        message_template_footer="Reply STOP to opt out",
        message_template_buttons=[
            {
                "message_template_button_type": "URL",
                "message_template_button_text": "Shop",
                "message_template_button_url": "https://shop.example.com",
            }
        ],
    )
    return _waba_change("message_template_components_update", value, i)


def template_category_update(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = _template(i, previous_category="UTILITY", new_category="MARKETING")
    return _waba_change("template_category_update", value, i)


def template_category_update_impending(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = _template(
        i,
        new_category="UTILITY",
        correct_category="MARKETING",
        category_update_timestamp=i.timestamp + 86400,
    )
    return _waba_change("template_category_update", value, i)


def phone_number_quality_update(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {
        "display_phone_number": DISPLAY_PHONE_NUMBER,
        "event": "THROUGHPUT_UPGRADE",
        "max_daily_conversations_per_business": "TIER_10K",
    }
    return _waba_change("phone_number_quality_update", value, i)


def phone_number_quality_update_legacy(**ids: Unpack[Ids]) -> Payload:
    """The older shape with ``current_limit``/``old_limit``."""
    i = _resolve(ids)
    value = {
        "display_phone_number": DISPLAY_PHONE_NUMBER,
        "event": "FLAGGED",
        "current_limit": "TIER_1K",
        "old_limit": "TIER_250",
    }
    return _waba_change("phone_number_quality_update", value, i)


def phone_number_name_update(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {
        "display_phone_number": DISPLAY_PHONE_NUMBER,
        "decision": "REJECTED",
        "requested_verified_name": "Acme Jackets",
        "rejection_reason": "NAME_FORMAT_UNACCEPTABLE",
    }
    return _waba_change("phone_number_name_update", value, i)


def account_review_update(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    return _waba_change("account_review_update", {"decision": "APPROVED"}, i)


def account_alerts(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {
        "entity_type": "PHONE_NUMBER",
        "entity_id": i.phone_number_id,
        "alert_info": {
            "alert_severity": "WARNING",
            "alert_status": "ACTIVE",
            "alert_type": "PROFILE_PICTURE_LOST",
            "alert_description": "The profile picture was removed.",
        },
    }
    return _waba_change("account_alerts", value, i)


def business_capability_update(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {
        "max_daily_conversations_per_business": "TIER_100K",
        "max_phone_numbers_per_business": 20,
        "max_daily_conversation_per_phone": 1000,
    }
    return _waba_change("business_capability_update", value, i)


def security(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {
        "display_phone_number": DISPLAY_PHONE_NUMBER,
        "event": "PIN_RESET_REQUEST",
        "requester": f"61555{i.timestamp}",
    }
    return _waba_change("security", value, i)


def user_preferences(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    preference = {
        "wa_id": i.wa_id,
        "user_id": i.user_id,
        "detail": "User requested to stop marketing messages",
        "category": "marketing_messages",
        "value": "stop",
        "timestamp": i.timestamp,
    }
    contact = {"wa_id": i.wa_id, "user_id": i.user_id}
    value = _messages_value(i, contacts=[contact], user_preferences=[preference])
    return envelope(("user_preferences", value), entry_id=i.waba_id)


def partner_solutions(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {
        "event": "SOLUTION_CREATED",
        "solution_id": "1715120619246906",
        "solution_status": "INITIATED",
    }
    return _waba_change("partner_solutions", value, i, entry_id=i.partner_business_id)


def business_username_update(**ids: Unpack[Ids]) -> Payload:
    i = _resolve(ids)
    value = {
        "display_phone_number": DISPLAY_PHONE_NUMBER,
        "username": "@acmejackets",
        "status": "approved",
    }
    return _waba_change("business_username_update", value, i)


_BUILDERS: tuple[Callable[[], Payload], ...] = (
    message_text,
    message_image,
    message_video,
    message_audio,
    message_voice,
    message_document,
    message_sticker,
    message_location,
    message_location_pin,
    message_contacts,
    message_interactive_button_reply,
    message_interactive_list_reply,
    message_interactive_nfm_reply,
    message_button,
    message_reaction,
    message_reaction_removed,
    message_reaction_removed_empty,
    message_order,
    message_system_user_changed_number,
    message_system_user_changed_user_id,
    message_system_customer_identity_changed,
    message_unsupported,
    message_unsupported_unavailable,
    message_edit,
    message_revoke,
    message_request_welcome,
    message_unknown_type,
    message_with_referral,
    message_reply,
    message_forwarded,
    message_frequently_forwarded,
    message_product_enquiry,
    message_from_username_user,
    message_in_group,
    message_interactive_with_value_error,
    value_errors_rate_limit,
    status_sent,
    status_delivered,
    status_read,
    status_played,
    status_failed,
    status_without_recipient_id,
    status_unknown,
    account_update_partner_added,
    account_update_partner_added_with_solution,
    account_update_partner_app_installed,
    account_update_partner_app_uninstalled,
    account_update_partner_removed,
    account_update_partner_removed_disconnected,
    account_update_partner_client_certification,
    account_update_account_violation,
    account_update_disabled,
    account_update_restriction,
    account_update_deleted,
    account_update_offboarded,
    account_update_reconnected,
    account_update_ad_account_linked,
    account_update_mm_lite_terms_signed,
    account_update_auth_intl_price_eligibility,
    account_update_primary_location_country,
    account_update_volume_tier,
    account_update_verified_account,
    account_update_unknown_event,
    smb_message_echo_text,
    smb_message_echo_image,
    smb_message_echo_revoke,
    smb_message_echo_edit,
    smb_app_state_sync_add,
    smb_app_state_sync_remove,
    history_chunk,
    history_media,
    history_declined,
    message_template_status_update,
    message_template_status_disabled,
    message_template_quality_update,
    message_template_components_update,
    template_category_update,
    template_category_update_impending,
    phone_number_quality_update,
    phone_number_quality_update_legacy,
    phone_number_name_update,
    account_review_update,
    account_alerts,
    business_capability_update,
    security,
    user_preferences,
    partner_solutions,
    business_username_update,
)

ALL_SHAPES: dict[str, Callable[[], Payload]] = {builder.__name__: builder for builder in _BUILDERS}
