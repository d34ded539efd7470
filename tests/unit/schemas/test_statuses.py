"""Statuses of outbound messages: every state, pricing, conversation, errors, BSUID-only."""

from __future__ import annotations

import pydantic
import pytest

from schemas.messages import MessagesValue, Status
from tests import shapes
from tests.unit.schemas.helpers import parse_value, value_of


def only_status(payload: dict[str, object]) -> Status:
    (status,) = parse_value(payload, MessagesValue).statuses
    return status


def test_a_sent_status_keeps_pricing_conversation_and_callback_data():
    payload = shapes.status_sent(
        wamid="wamid.OUT1", wa_id="16505550148", user_id="US.7", timestamp=1768471800
    )
    value = parse_value(payload, MessagesValue)
    (status,) = value.statuses
    assert (status.id, status.status, status.timestamp) == ("wamid.OUT1", "sent", 1768471800)
    assert (status.recipient_id, status.recipient_user_id) == ("16505550148", "US.7")
    assert status.biz_opaque_callback_data == "tenant=acme;campaign=jan-restock"
    assert status.pricing is not None
    assert (status.pricing.billable, status.pricing.pricing_model, status.pricing.type) == (
        True,
        "PMP",
        "regular",
    )
    assert status.pricing.category == "marketing"
    assert status.conversation is not None
    assert status.conversation.expiration_timestamp == 1768471800 + 86400
    assert status.conversation.origin is not None
    assert status.conversation.origin.type == "referral_conversion"
    assert status.errors == []
    assert value.messages == []
    assert [c.user_id for c in value.contacts] == ["US.7"]


@pytest.mark.parametrize(
    ("build", "state"),
    [
        (shapes.status_delivered, "delivered"),
        (shapes.status_read, "read"),
        (shapes.status_played, "played"),
        (shapes.status_unknown, "deleted_by_recipient"),
    ],
)
def test_every_status_value_is_kept_as_its_string(build, state: str):
    status = only_status(build())
    assert status.status == state
    assert isinstance(status.timestamp, int)


def test_a_failed_status_carries_its_errors_and_no_contacts():
    value = parse_value(shapes.status_failed(), MessagesValue)
    (status,) = value.statuses
    assert status.status == "failed"
    assert [e.code for e in status.errors] == [131049]
    assert status.errors[0].href is not None
    assert value.contacts == []


def test_a_status_for_a_username_user_has_no_recipient_id():
    status = only_status(shapes.status_without_recipient_id(user_id="US.42"))
    assert status.recipient_id is None
    assert status.recipient_user_id == "US.42"
    assert status.pricing is not None
    assert status.pricing.category == "utility"


def test_a_status_without_conversation_or_pricing_parses():
    status = only_status(shapes.status_read())
    assert (status.conversation, status.pricing) == (None, None)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("id", None),
        ("status", None),
        ("timestamp", "yesterday"),
        ("errors", "oops"),
        ("pricing", "PMP"),
    ],
)
def test_a_status_that_breaks_the_schema_is_rejected(field: str, bad: object):
    payload = shapes.status_sent()
    status = value_of(payload)["statuses"][0]
    if bad is None:
        del status[field]
    else:
        status[field] = bad
    with pytest.raises(pydantic.ValidationError):
        parse_value(payload, MessagesValue)
