"""Coexistence fields: app echoes, contact sync, history chunks, media follow-ups, declines."""

from __future__ import annotations

import pydantic
import pytest

from schemas.coexistence import (
    HistoryValue,
    MessageEcho,
    SmbAppStateSyncValue,
    SmbMessageEchoesValue,
)
from schemas.messages import Message
from tests import shapes
from tests.builders import load_payload
from tests.unit.schemas.helpers import parse_value, value_of


def only_echo(payload: dict[str, object]) -> MessageEcho:
    (echo,) = parse_value(payload, SmbMessageEchoesValue).message_echoes
    return echo


def test_an_echoed_text_goes_from_the_business_to_the_user():
    payload = shapes.smb_message_echo_text(
        wa_id="5491155502871", phone_number_id="4366", timestamp=1768478200
    )
    value = parse_value(payload, SmbMessageEchoesValue)
    (echo,) = value.message_echoes
    assert value.metadata.phone_number_id == "4366"
    assert isinstance(echo, Message)
    assert (echo.from_, echo.to) == (shapes.DISPLAY_PHONE_NUMBER, "5491155502871")
    assert echo.timestamp == 1768478200
    assert echo.text_content == "\u00a1Listo! Te lo env\u00edo ma\u00f1ana."


def test_an_echoed_image_exposes_its_media():
    echo = only_echo(shapes.smb_message_echo_image())
    assert echo.type == "image"
    assert echo.media_id is not None
    assert echo.text_content == "tu pedido"


def test_an_echoed_revoke_and_edit_name_the_original():
    revoke = only_echo(shapes.smb_message_echo_revoke(timestamp=1768478200))
    edit = only_echo(shapes.smb_message_echo_edit(timestamp=1768478200))
    assert revoke.revoke is not None
    assert edit.edit is not None
    assert (
        revoke.revoke.original_message_id == edit.edit.original_message_id == "wamid.ECHO1768478200"
    )
    assert edit.edit.message is not None
    assert edit.edit.message["text"] == {"body": "Te lo env\u00edo el lunes."}


def test_the_captured_echo_sample_parses():
    echo = only_echo(load_payload("smb_message_echoes_text"))
    assert echo.to == "5491155502871"


def test_a_synced_contact_is_added_with_its_names():
    value = parse_value(
        shapes.smb_app_state_sync_add(wa_id="5491155502871", timestamp=1768478000),
        SmbAppStateSyncValue,
    )
    (item,) = value.state_sync
    assert (item.type, item.action) == ("contact", "add")
    assert item.contact is not None
    assert (item.contact.full_name, item.contact.phone_number) == (
        "Luc\u00eda Fern\u00e1ndez",
        "5491155502871",
    )
    assert item.metadata is not None
    assert item.metadata.timestamp == 1768478000


def test_a_removed_contact_has_only_its_number():
    (item,) = parse_value(
        shapes.smb_app_state_sync_remove(wa_id="549"), SmbAppStateSyncValue
    ).state_sync
    assert item.action == "remove"
    assert item.contact is not None
    assert (item.contact.phone_number, item.contact.full_name) == ("549", None)


def test_a_history_chunk_has_threads_with_past_messages_and_a_placeholder():
    payload = shapes.history_chunk(wa_id="5491155502871", wamid="wamid.PLACEHOLDER")
    value = parse_value(payload, HistoryValue)
    (chunk,) = value.history
    assert chunk.metadata is not None
    assert (chunk.metadata.phase, chunk.metadata.chunk_order, chunk.metadata.progress) == (0, 1, 40)
    (thread,) = chunk.threads
    assert thread.id == "5491155502871"
    first, placeholder, answer = thread.messages
    assert first.to == "5491155502871"
    assert first.history_context is not None
    assert first.history_context.status == "READ"
    assert (placeholder.id, placeholder.type, placeholder.media_id) == (
        "wamid.PLACEHOLDER",
        "media_placeholder",
        None,
    )
    assert answer.from_ == "5491155502871"
    assert answer.history_context is None
    assert answer.text_content == "\u00a1Genial, gracias! \U0001f64c"
    assert value.messages == []


def test_a_history_media_follow_up_comes_as_messages():
    value = parse_value(shapes.history_media(wamid="wamid.PLACEHOLDER"), HistoryValue)
    assert value.history == []
    (message,) = value.messages
    assert (message.id, message.type) == ("wamid.PLACEHOLDER", "image")
    assert message.media_id is not None


def test_declined_history_is_a_chunk_with_only_an_error():
    (chunk,) = parse_value(shapes.history_declined(), HistoryValue).history
    assert (chunk.metadata, chunk.threads) == (None, [])
    assert [e.code for e in chunk.errors] == [2593109]


def test_the_captured_history_sample_parses():
    (chunk,) = parse_value(load_payload("history"), HistoryValue).history
    assert [m.type for m in chunk.threads[0].messages] == ["text", "media_placeholder", "text"]


@pytest.mark.parametrize(
    ("build", "mutate"),
    [
        (shapes.smb_message_echo_text, lambda v: v.pop("metadata")),
        (shapes.smb_message_echo_text, lambda v: v["message_echoes"][0].pop("id")),
        (shapes.smb_app_state_sync_add, lambda v: v["state_sync"][0].pop("action")),
        (
            shapes.smb_app_state_sync_add,
            lambda v: v["state_sync"][0]["contact"].pop("phone_number"),
        ),
        (
            shapes.smb_app_state_sync_add,
            lambda v: v["state_sync"][0]["metadata"].update(timestamp="soon"),
        ),
        (shapes.history_chunk, lambda v: v["history"][0]["threads"][0].pop("id")),
        (shapes.history_chunk, lambda v: v["history"][0]["metadata"].update(phase="first")),
        (shapes.history_chunk, lambda v: v.update(history={"threads": []})),
    ],
    ids=[
        "echo-without-metadata",
        "echo-without-id",
        "sync-without-action",
        "synced-contact-without-number",
        "sync-timestamp-not-digits",
        "thread-without-id",
        "phase-not-a-number",
        "history-not-a-list",
    ],
)
def test_a_coexistence_value_that_breaks_the_schema_is_rejected(build, mutate):
    payload = build()
    mutate(value_of(payload))
    model = {
        "smb_message_echoes": SmbMessageEchoesValue,
        "smb_app_state_sync": SmbAppStateSyncValue,
        "history": HistoryValue,
    }[payload["entry"][0]["changes"][0]["field"]]
    with pytest.raises(pydantic.ValidationError):
        parse_value(payload, model)
