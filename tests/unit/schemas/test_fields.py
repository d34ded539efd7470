"""Every shape and every captured sample parses from its wire bytes, and nothing is dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from schemas.account_update import AccountUpdateValue
from schemas.coexistence import HistoryValue, SmbMessageEchoesValue
from schemas.envelope import WebhookEnvelope
from schemas.fields import FIELD_MODELS, parse_change_value
from schemas.messages import MessagesValue
from schemas.waba import (
    AccountReviewUpdate,
    PhoneNumberQualityUpdate,
    SecurityUpdate,
    TemplateStatusUpdate,
)
from schemas.wire import WireModel
from tests.builders import envelope, load_payload, sample_names, wire_bytes
from tests.shapes import ALL_SHAPES
from tests.unit.schemas.helpers import parse_value, parse_values


def key_tree(data: Any) -> Any:
    """The nesting of keys, without values: what must survive a parse."""
    if isinstance(data, dict):
        return {key: key_tree(value) for key, value in data.items()}
    if isinstance(data, list):
        return [key_tree(item) for item in data]
    return None


def assert_parsed_whole(payload: dict[str, Any]) -> None:
    envelope_ = WebhookEnvelope.model_validate_json(wire_bytes(payload))
    for entry in envelope_.entry:
        for change in entry.changes:
            parsed = parse_change_value(change.field, change.value)
            assert isinstance(parsed, FIELD_MODELS[change.field])
            dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
            assert key_tree(dumped) == key_tree(change.value)
            assert type(parsed).model_validate(dumped) == parsed


@pytest.mark.parametrize("name", sorted(ALL_SHAPES))
def test_every_shape_parses_from_its_wire_bytes_keeping_every_key(name: str):
    assert_parsed_whole(ALL_SHAPES[name]())


@pytest.mark.parametrize("name", sample_names())
def test_every_captured_sample_parses_from_its_wire_bytes_keeping_every_key(name: str):
    assert_parsed_whole(load_payload(name))


@pytest.mark.parametrize(
    "name",
    sorted(
        n for n in ALL_SHAPES if ALL_SHAPES[n]()["entry"][0]["changes"][0]["field"] == "messages"
    ),
)
def test_every_message_and_status_timestamp_is_an_int(name: str):
    value = parse_value(ALL_SHAPES[name](), MessagesValue)
    stamps = [m.timestamp for m in value.messages] + [s.timestamp for s in value.statuses]
    assert all(type(stamp) is int for stamp in stamps)


@pytest.mark.parametrize("name", sorted(ALL_SHAPES))
def test_every_shape_gets_fresh_ids_on_each_build(name: str):
    first, second = wire_bytes(ALL_SHAPES[name]()), wire_bytes(ALL_SHAPES[name]())
    assert first != second


def test_there_is_a_shape_for_every_known_field():
    fields = {
        change["field"]
        for build in ALL_SHAPES.values()
        for entry in build()["entry"]
        for change in entry["changes"]
    }
    assert fields == set(FIELD_MODELS)


SAMPLE_FACTS: list[tuple[str, type[WireModel], Callable[[Any], object], object]] = [
    (
        "messages_text",
        MessagesValue,
        lambda v: v.messages[0].text_content,
        "Hi, is the blue jacket still in stock in size M?",
    ),
    ("messages_image", MessagesValue, lambda v: v.messages[0].media_id, "2870991846167270"),
    (
        "messages_document",
        MessagesValue,
        lambda v: v.messages[0].document.filename,
        "Rechnung-2026-03.pdf",
    ),
    (
        "messages_interactive_button_reply",
        MessagesValue,
        lambda v: v.messages[0].interactive_reply_id,
        "confirm-order-8841",
    ),
    ("messages_reaction", MessagesValue, lambda v: v.messages[0].reaction.emoji, "\U0001f44d"),
    (
        "messages_unsupported",
        MessagesValue,
        lambda v: v.messages[0].unsupported.type,
        "poll_creation",
    ),
    (
        "statuses_sent",
        MessagesValue,
        lambda v: v.statuses[0].biz_opaque_callback_data,
        "tenant=acme;campaign=jan-restock",
    ),
    (
        "statuses_delivered",
        MessagesValue,
        lambda v: (v.statuses[0].status, v.statuses[0].timestamp),
        ("delivered", 1768471803),
    ),
    ("statuses_read", MessagesValue, lambda v: v.contacts[0].profile.username, "@marcusreed"),
    (
        "account_update_partner_added",
        AccountUpdateValue,
        lambda v: v.waba_info.owner_business_id,
        "572910384657120",
    ),
    (
        "account_update_partner_app_installed",
        AccountUpdateValue,
        lambda v: v.waba_info.partner_app_id,
        "903847561203948",
    ),
    ("account_update_partner_removed", AccountUpdateValue, lambda v: v.event, "PARTNER_REMOVED"),
    (
        "account_update_account_violation",
        AccountUpdateValue,
        lambda v: v.violation_info.violation_type,
        "SCAM",
    ),
    ("account_review_update", AccountReviewUpdate, lambda v: v.decision, "APPROVED"),
    (
        "message_template_status_update",
        TemplateStatusUpdate,
        lambda v: v.message_template_id,
        "1093847561029384",
    ),
    (
        "phone_number_quality_update",
        PhoneNumberQualityUpdate,
        lambda v: v.event,
        "THROUGHPUT_UPGRADE",
    ),
    ("security", SecurityUpdate, lambda v: v.event, "PIN_RESET_REQUEST"),
    (
        "smb_message_echoes_text",
        SmbMessageEchoesValue,
        lambda v: v.message_echoes[0].from_,
        "5491155509000",
    ),
    (
        "history",
        HistoryValue,
        lambda v: v.history[0].threads[0].messages[0].history_context.status,
        "READ",
    ),
]


@pytest.mark.parametrize(
    ("name", "model", "read", "expected"), SAMPLE_FACTS, ids=[f[0] for f in SAMPLE_FACTS]
)
def test_a_captured_sample_yields_its_concrete_values(
    name: str, model: type[WireModel], read, expected
):
    assert read(parse_value(load_payload(name), model)) == expected


def test_every_single_change_sample_has_a_concrete_check():
    batched = {"batched_multiple_changes_one_entry"}
    assert {f[0] for f in SAMPLE_FACTS} == set(sample_names()) - batched


def test_a_batched_sample_parses_each_change_with_its_own_contents():
    message_value, status_value = parse_values(load_payload("batched_multiple_changes_one_entry"))
    assert isinstance(message_value, MessagesValue)
    assert isinstance(status_value, MessagesValue)
    assert message_value.messages[0].text_content == "And a table for 4 please"
    assert status_value.statuses[0].status == "delivered"
    assert message_value.contact_for(message_value.messages[0]) == status_value.contacts[0]


def test_an_unknown_field_has_no_schema():
    assert parse_change_value("made_up_field", {"n": 1}) is None
    assert parse_values(envelope(("calls", {"calls": []}))) == [None]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("messages", {"messages": []}),
        (
            "messages",
            {
                "metadata": {"phone_number_id": "1"},
                "messages": [{"timestamp": "1", "type": "text"}],
            },
        ),
        ("messages", {"metadata": {"phone_number_id": "1"}, "messages": "hello"}),
        (
            "messages",
            {
                "metadata": {"phone_number_id": "1"},
                "messages": [{"id": "w", "timestamp": "yesterday", "type": "text"}],
            },
        ),
        ("account_update", {"waba_info": {"waba_id": "1"}}),
        ("smb_message_echoes", {"message_echoes": []}),
        (
            "history",
            {"metadata": {"phone_number_id": "1"}, "history": [{"errors": [{"title": "no code"}]}]},
        ),
    ],
    ids=[
        "metadata-missing",
        "message-without-id",
        "messages-not-a-list",
        "timestamp-yesterday",
        "account-update-without-event",
        "echoes-without-metadata",
        "error-without-code",
    ],
)
def test_a_known_field_whose_value_breaks_its_schema_raises(field: str, value: dict[str, Any]):
    with pytest.raises(pydantic.ValidationError):
        parse_change_value(field, value)


def test_the_field_table_cannot_be_changed_at_run_time():
    with pytest.raises(TypeError):
        FIELD_MODELS["messages"] = AccountUpdateValue  # type: ignore[index]
