"""Parsing a signed body into changes: every sample parses, bad envelopes are unparseable."""

from __future__ import annotations

import pytest

from domain.errors import UnparseablePayload
from tests.builders import envelope, load_payload, sample_names, wire_bytes
from workers.processing import parse_changes


@pytest.mark.parametrize("name", sample_names())
def test_every_captured_sample_parses_from_its_wire_bytes(name: str):
    payload = load_payload(name)
    changes = parse_changes(wire_bytes(payload))
    expected = sum(len(entry["changes"]) for entry in payload["entry"])
    assert len(changes) == expected
    assert changes[0].field == payload["entry"][0]["changes"][0]["field"]


def test_escaped_text_is_decoded_in_the_change_value():
    body = wire_bytes(envelope(("messages", {"text": "caf\u00e9 \U0001f600 a/b"})))
    assert b"caf\\u00e9" in body
    assert b"a\\/b" in body
    (change,) = parse_changes(body)
    assert change.value == {"text": "caf\u00e9 \U0001f600 a/b"}


def test_numeric_entry_ids_are_kept_as_their_digits():
    payload = envelope(("messages", {}))
    payload["entry"][0]["id"] = 310982745561203
    (change,) = parse_changes(wire_bytes(payload))
    assert change.entry_id == "310982745561203"


def test_unknown_keys_are_tolerated():
    payload = envelope(("messages", {"x": 1}))
    payload["brand_new_key"] = {"meta": "adds things"}
    payload["entry"][0]["changes"][0]["extra"] = True
    assert len(parse_changes(wire_bytes(payload))) == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"not json", "Invalid JSON"),
        (b"[]", "body"),
        (b'{"object":"page","entry":[]}', "object"),
        (b'{"object":"whatsapp_business_account","entry":[]}', "entry"),
        (b'{"object":"whatsapp_business_account"}', "entry"),
        (
            b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages"}]}]}',
            "value",
        ),
        (b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}', "no change"),
        (b"\xff\xfe", "body"),
    ],
)
def test_a_body_that_is_not_a_whatsapp_envelope_is_unparseable(body: bytes, detail: str):
    with pytest.raises(UnparseablePayload) as raised:
        parse_changes(body)
    assert detail in str(raised.value)
    assert raised.value.reason == "unparseable"


def test_the_error_detail_does_not_echo_the_payload():
    secret_looking = "EAAG-not-a-real-token-but-payload-text"
    body = wire_bytes({"object": "page", "entry": [{"token": secret_looking}]})
    with pytest.raises(UnparseablePayload) as raised:
        parse_changes(body)
    assert secret_looking not in str(raised.value)
