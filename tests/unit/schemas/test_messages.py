"""Inbound messages of every type parse to typed payloads with their normalised text."""

from __future__ import annotations

import json

import pydantic
import pytest

from schemas.messages import Message, MessagesValue
from tests import shapes
from tests.unit.schemas.helpers import parse_value, value_of


def only_message(payload: dict[str, object]) -> Message:
    (message,) = parse_value(payload, MessagesValue).messages
    return message


def test_a_text_message_keeps_its_ids_body_and_integer_timestamp():
    payload = shapes.message_text(
        "caf\u00e9 / \U0001f600",
        waba_id="310982745561203",
        phone_number_id="418275530912846",
        wamid="wamid.TEXT1",
        wa_id="16505550148",
        user_id="US.1349",
        timestamp=1768471200,
    )
    value = parse_value(payload, MessagesValue)
    (message,) = value.messages
    assert value.metadata.phone_number_id == "418275530912846"
    assert value.messaging_product == "whatsapp"
    assert (message.id, message.from_, message.from_user_id) == (
        "wamid.TEXT1",
        "16505550148",
        "US.1349",
    )
    assert message.timestamp == 1768471200
    assert message.type == "text"
    assert message.text is not None
    assert message.text.body == "caf\u00e9 / \U0001f600"
    assert message.text_content == "caf\u00e9 / \U0001f600"
    assert message.media_id is None


@pytest.mark.parametrize(
    ("build", "kind", "mime_type"),
    [
        (shapes.message_image, "image", "image/jpeg"),
        (shapes.message_video, "video", "video/mp4"),
        (shapes.message_audio, "audio", "audio/mpeg"),
        (shapes.message_voice, "audio", "audio/ogg; codecs=opus"),
        (shapes.message_document, "document", "application/pdf"),
        (shapes.message_sticker, "sticker", "image/webp"),
    ],
)
def test_a_media_message_exposes_its_media_id(build, kind: str, mime_type: str):
    payload = build()
    raw_media = value_of(payload)["messages"][0][kind]
    message = only_message(payload)
    assert message.type == kind
    assert message.media is getattr(message, kind)
    assert message.media_id == raw_media["id"]
    assert message.media is not None
    assert message.media.mime_type == mime_type
    assert message.media.url is not None
    assert message.media.url.startswith("https://lookaside.fbsbx.com/")


def test_an_image_caption_is_its_text():
    message = only_message(shapes.message_image())
    assert message.text_content == "Kratzer am Geh\u00e4use"


def test_a_document_keeps_its_filename_and_caption():
    message = only_message(shapes.message_document())
    assert message.document is not None
    assert message.document.filename == "Rechnung-2026-03.pdf"
    assert message.text_content == "Rechnung M\u00e4rz"


def test_a_voice_note_is_marked_as_voice_and_music_is_not():
    voice = only_message(shapes.message_voice())
    music = only_message(shapes.message_audio())
    assert voice.audio is not None
    assert music.audio is not None
    assert (voice.audio.voice, music.audio.voice) == (True, False)
    assert voice.text_content is None


def test_an_animated_sticker_is_marked_animated():
    message = only_message(shapes.message_sticker())
    assert message.sticker is not None
    assert message.sticker.animated is True


def test_a_location_keeps_its_coordinates_and_place():
    message = only_message(shapes.message_location())
    assert message.location is not None
    assert (message.location.latitude, message.location.longitude) == (37.4611978, -122.2164385)
    assert message.location.name == "Meta HQ"


def test_a_dropped_pin_is_a_location_without_a_name():
    message = only_message(shapes.message_location_pin())
    assert message.location is not None
    assert message.location.latitude == -34.6037
    assert (message.location.name, message.location.address, message.location.url) == (
        None,
        None,
        None,
    )


def test_a_shared_contact_card_keeps_phones_vcard_and_origin():
    message = only_message(shapes.message_contacts())
    assert message.contacts is not None
    card, second = message.contacts
    assert card.name is not None
    assert card.name.formatted_name == "Chandler Bing"
    assert [(p.phone, p.wa_id, p.type) for p in card.phones] == [
        ("+1 555-555-5555", "15555555555", "CELL")
    ]
    assert card.emails[0].email == "chandler@example.com"
    assert card.org is not None
    assert card.org.company == "Example Inc."
    assert card.addresses[0].city == "New York"
    assert card.urls[0].url == "https://example.com"
    assert card.birthday == "1968-04-08"
    assert card.vcard is not None
    assert card.vcard.startswith("BEGIN:VCARD")
    assert card.origin == "contact_request"
    assert second.phones[0].wa_id is None
    assert second.emails == []


def test_a_button_reply_exposes_its_id_and_title():
    message = only_message(shapes.message_interactive_button_reply())
    assert message.interactive is not None
    assert message.interactive.type == "button_reply"
    assert message.interactive_reply_id == "confirm-order-8841"
    assert message.text_content == "Confirm"


def test_a_list_reply_exposes_its_id_title_and_description():
    message = only_message(shapes.message_interactive_list_reply())
    assert message.interactive is not None
    assert message.interactive.list_reply is not None
    assert message.interactive.list_reply.description == "Tomorrow morning"
    assert message.interactive_reply_id == "slot-0930"
    assert message.text_content == "9:30"


def test_a_flow_reply_keeps_its_response_json_as_text():
    message = only_message(shapes.message_interactive_nfm_reply())
    assert message.interactive is not None
    assert message.interactive.nfm_reply is not None
    assert json.loads(message.interactive.nfm_reply.response_json or "") == {
        "flow_token": "ft-1",
        "size": "M",
    }
    assert message.interactive_reply_id is None
    assert message.text_content == "Sent"


def test_a_template_button_tap_keeps_payload_and_text():
    message = only_message(shapes.message_button())
    assert message.button is not None
    assert message.button.payload == "STOP_PROMOTIONS"
    assert message.text_content == "Stop promotions"
    assert message.interactive_reply_id is None


def test_a_reaction_keeps_its_emoji_and_target():
    payload = shapes.message_reaction(timestamp=1768471590)
    message = only_message(payload)
    assert message.reaction is not None
    assert message.reaction.message_id == "wamid.REACTED1768471590"
    assert message.reaction.emoji == "\U0001f44d"
    assert message.reaction.removed is False
    assert message.text_content == "\U0001f44d"


@pytest.mark.parametrize(
    "build", [shapes.message_reaction_removed, shapes.message_reaction_removed_empty]
)
def test_removed_reaction_has_no_emoji(build):
    message = only_message(build())
    assert message.reaction is not None
    assert message.reaction.emoji is None
    assert message.reaction.removed is True
    assert message.text_content is None


def test_an_order_keeps_its_items_and_note():
    message = only_message(shapes.message_order())
    assert message.order is not None
    assert message.order.catalog_id == "354160437058781"
    assert [
        (i.product_retailer_id, i.quantity, i.item_price) for i in message.order.product_items
    ] == [
        ("HAMBURGER", 3, 30.0),
        ("SODA", 2, 9.5),
    ]
    assert message.text_content == "Extra ketchup please"


def test_a_changed_number_notice_carries_the_new_number_and_no_contacts():
    payload = shapes.message_system_user_changed_number(wa_id="16505550148")
    value = parse_value(payload, MessagesValue)
    (message,) = value.messages
    assert value.contacts == []
    assert message.system is not None
    assert message.system.type == "user_changed_number"
    assert message.system.wa_id == "916505550148"
    assert message.text_content == message.system.body
    assert value.contact_for(message) is None


def test_a_changed_user_id_notice_carries_the_new_user_id():
    message = only_message(shapes.message_system_user_changed_user_id(user_id="US.1"))
    assert message.system is not None
    assert (message.system.type, message.system.user_id) == ("user_changed_user_id", "US.19")


def test_the_legacy_identity_notice_keeps_the_hash_and_identity_block():
    message = only_message(shapes.message_system_customer_identity_changed(timestamp=1700000000))
    assert message.system is not None
    assert message.system.type == "customer_identity_changed"
    assert message.system.identity == "Sgm2ZaUbpVE="
    assert message.identity is not None
    assert (message.identity.acknowledged, message.identity.created_timestamp) == (
        False,
        1700000000,
    )


def test_the_identity_block_is_also_accepted_inside_system():
    payload = shapes.message_system_customer_identity_changed()
    value_of(payload)["messages"][0]["system"]["identity"] = {"acknowledged": True, "hash": "h"}
    message = only_message(payload)
    assert message.system is not None
    assert not isinstance(message.system.identity, str)
    assert message.system.identity is not None
    assert message.system.identity.hash == "h"


def test_an_unsupported_message_keeps_its_error_and_real_type():
    message = only_message(shapes.message_unsupported())
    assert message.type == "unsupported"
    assert message.unsupported is not None
    assert message.unsupported.type == "poll_creation"
    assert [e.code for e in message.errors] == [131051]
    assert message.errors[0].error_data is not None
    assert message.errors[0].error_data.details == "Message type is currently not supported."


def test_an_unavailable_message_has_error_131060_and_no_payload():
    message = only_message(shapes.message_unsupported_unavailable())
    assert [e.code for e in message.errors] == [131060]
    assert message.unsupported is None
    assert message.text_content is None


def test_an_edit_names_the_original_and_keeps_the_new_content_raw():
    message = only_message(shapes.message_edit(timestamp=1768471000))
    assert message.edit is not None
    assert message.edit.original_message_id == "wamid.ORIGINAL1768471000"
    assert message.edit.message == {"type": "text", "text": {"body": "Size L, not M"}}


def test_a_revoke_names_the_deleted_message():
    message = only_message(shapes.message_revoke(timestamp=1768471000))
    assert message.revoke is not None
    assert message.revoke.original_message_id == "wamid.ORIGINAL1768471000"


def test_a_request_welcome_parses_without_a_payload():
    message = only_message(shapes.message_request_welcome())
    assert message.type == "request_welcome"
    assert message.text_content is None


def test_an_unknown_message_type_parses_and_keeps_its_payload():
    message = only_message(shapes.message_unknown_type())
    assert message.type == "hologram"
    assert message.model_extra == {"hologram": {"frames": 24, "label": "hi"}}
    assert message.text_content is None


def test_a_message_from_an_ad_keeps_its_referral():
    message = only_message(shapes.message_with_referral(timestamp=1768471000))
    assert message.referral is not None
    assert message.referral.source_type == "ad"
    assert message.referral.ctwa_clid == "ARAkLkA8rmlFeiCktEJQ-1768471000"
    assert message.text_content == "Is this still on?"


def test_a_reply_names_the_message_it_answers():
    message = only_message(shapes.message_reply(timestamp=1768471000))
    assert message.context is not None
    assert message.context.from_ == shapes.DISPLAY_PHONE_NUMBER
    assert message.context.id == "wamid.OUTBOUND1768471000"
    assert message.context.forwarded is None


def test_forwarded_messages_are_marked():
    forwarded = only_message(shapes.message_forwarded())
    often = only_message(shapes.message_frequently_forwarded())
    assert forwarded.context is not None
    assert often.context is not None
    assert (forwarded.context.forwarded, forwarded.context.id) == (True, None)
    assert often.context.frequently_forwarded is True


def test_a_product_enquiry_names_the_product():
    message = only_message(shapes.message_product_enquiry())
    assert message.context is not None
    assert message.context.referred_product is not None
    assert message.context.referred_product.product_retailer_id == "JACKET-M"


def test_a_username_only_user_has_no_phone_but_a_username():
    value = parse_value(shapes.message_from_username_user(user_id="US.99"), MessagesValue)
    (message,) = value.messages
    assert message.from_ is None
    assert message.from_user_id == "US.99"
    contact = value.contact_for(message)
    assert contact is not None
    assert contact.wa_id is None
    assert contact.user_id == "US.99"
    assert contact.profile is not None
    assert contact.profile.username == "@marcusreed"


def test_a_group_message_keeps_its_group_id():
    message = only_message(shapes.message_in_group(timestamp=1768471000))
    assert message.group_id == "1203631768471000"


def test_an_interactive_message_without_payload_comes_with_value_errors():
    value = parse_value(shapes.message_interactive_with_value_error(), MessagesValue)
    (message,) = value.messages
    assert message.type == "interactive"
    assert message.interactive is None
    assert message.interactive_reply_id is None
    assert [e.code for e in value.errors] == [131000]


def test_a_value_error_comes_without_messages_or_statuses():
    value = parse_value(shapes.value_errors_rate_limit(), MessagesValue)
    assert (value.messages, value.statuses, value.contacts) == ([], [], [])
    assert [e.code for e in value.errors] == [130429]
    assert value.errors[0].title == "Rate limit hit"


def test_the_contact_of_a_message_is_found_by_user_id_then_phone():
    payload = shapes.message_text(wa_id="111", user_id="US.1")
    value_of(payload)["contacts"] = [
        {"profile": {"name": "Other"}, "wa_id": "222", "user_id": "US.2"},
        {"profile": {"name": "By phone"}, "wa_id": "111"},
        {"profile": {"name": "By user id"}, "user_id": "US.1"},
    ]
    value = parse_value(payload, MessagesValue)
    (message,) = value.messages
    contact = value.contact_for(message)
    assert contact is not None
    assert contact.profile is not None
    assert contact.profile.name == "By user id"
    del value_of(payload)["contacts"][2]
    value = parse_value(payload, MessagesValue)
    by_phone = value.contact_for(value.messages[0])
    assert by_phone is not None
    assert by_phone.wa_id == "111"


def test_no_contact_matches_among_several_strangers():
    payload = shapes.message_text(wa_id="111", user_id="US.1")
    value_of(payload)["contacts"] = [{"wa_id": "222"}, {"wa_id": "333"}]
    value = parse_value(payload, MessagesValue)
    assert value.contact_for(value.messages[0]) is None


def test_unknown_keys_of_a_message_and_value_survive():
    payload = shapes.message_text()
    value_of(payload)["brand_new"] = [1, 2]
    value_of(payload)["messages"][0]["text"]["spoiler"] = True
    value = parse_value(payload, MessagesValue)
    assert value.model_extra == {"brand_new": [1, 2]}
    assert value.messages[0].text is not None
    assert value.messages[0].text.model_extra == {"spoiler": True}


def test_a_numeric_wamid_or_phone_is_kept_as_text():
    payload = shapes.message_text()
    value_of(payload)["messages"][0]["from"] = 16505550148
    value_of(payload)["metadata"]["phone_number_id"] = 418275530912846
    value = parse_value(payload, MessagesValue)
    assert value.metadata.phone_number_id == "418275530912846"
    assert value.messages[0].from_ == "16505550148"


def test_a_message_can_be_built_by_field_name():
    message = Message(from_="1", id="wamid.1", timestamp=1, type="text")
    assert message.from_ == "1"
    assert message.model_dump(by_alias=True)["from"] == "1"


@pytest.mark.parametrize(
    ("mutate", "location"),
    [
        (lambda v: v["messages"][0].pop("id"), ("messages", 0, "id")),
        (lambda v: v["messages"][0].pop("timestamp"), ("messages", 0, "timestamp")),
        (lambda v: v["messages"][0].pop("type"), ("messages", 0, "type")),
        (lambda v: v["messages"][0].update(timestamp="yesterday"), ("messages", 0, "timestamp")),
        (lambda v: v.update(messages={"id": "x"}), ("messages",)),
        (lambda v: v.pop("metadata"), ("metadata",)),
        (lambda v: v["metadata"].pop("phone_number_id"), ("metadata", "phone_number_id")),
        (lambda v: v["messages"][0]["text"].pop("body"), ("messages", 0, "text", "body")),
        (lambda v: v["messages"][0].update(text="hello"), ("messages", 0, "text")),
        (lambda v: v.update(contacts="Marcus"), ("contacts",)),
    ],
    ids=[
        "message-without-id",
        "message-without-timestamp",
        "message-without-type",
        "timestamp-yesterday",
        "messages-not-a-list",
        "metadata-missing",
        "phone-number-id-missing",
        "text-without-body",
        "text-not-an-object",
        "contacts-not-a-list",
    ],
)
def test_a_messages_value_that_breaks_the_schema_is_rejected(mutate, location):
    payload = shapes.message_text()
    mutate(value_of(payload))
    with pytest.raises(pydantic.ValidationError) as raised:
        parse_value(payload, MessagesValue)
    assert location in [error["loc"] for error in raised.value.errors()]
