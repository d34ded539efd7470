"""X-Hub-Signature-256 is checked over the exact bytes received, constant-time, failing closed."""

from __future__ import annotations

import json

import pytest

from ingress import signature
from ingress.signature import SignatureCheck, check_signature, verify_signature
from tests.builders import APP_SECRET, load_payload, sign, text_message, wire_bytes

SECRETS = (APP_SECRET,)


@pytest.fixture
def body() -> bytes:
    """A message webhook as Meta puts it on the wire: accents, a slash and an emoji escaped."""
    return wire_bytes(text_message("caf\u00e9 / n\u00ba 7 \U0001f600"))


def test_a_signature_over_the_raw_bytes_is_valid(body: bytes):
    assert check_signature(SECRETS, body, sign(body)) is SignatureCheck.VALID
    assert verify_signature(SECRETS, body, sign(body))


def test_the_wire_format_keeps_meta_escapes_in_the_signed_bytes(body: bytes):
    # The premise of the next test: these bytes are what Meta signs, escapes included.
    assert b"caf\\u00e9" in body
    assert b"\\ud83d\\ude00" in body
    assert b" \\/ " in body
    assert b'":"' in body  # compact separators
    assert body.isascii()


def test_meta_wire_bytes_verify_and_their_reserialisation_does_not(body: bytes):
    header = sign(body)
    reserialised = json.dumps(json.loads(body)).encode()
    assert reserialised != body
    assert check_signature(SECRETS, reserialised, header) is SignatureCheck.MISMATCH
    assert check_signature(SECRETS, body, header) is SignatureCheck.VALID


def test_even_a_compact_reserialisation_fails_because_of_the_slash_escape(body: bytes):
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert compact == body.replace(b"\\/", b"/")
    assert check_signature(SECRETS, compact, sign(body)) is SignatureCheck.MISMATCH


@pytest.mark.parametrize("name", ["account_update_partner_added", "statuses_delivered", "history"])
def test_captured_samples_verify_over_their_wire_bytes(name: str):
    body = wire_bytes(load_payload(name))
    assert verify_signature(SECRETS, body, sign(body))


@pytest.mark.parametrize("position", [0, 57, -2, -1])
def test_a_body_with_one_byte_changed_is_rejected(body: bytes, position: int):
    header = sign(body)
    tampered = bytearray(body)
    tampered[position] ^= 0x01
    assert check_signature(SECRETS, bytes(tampered), header) is SignatureCheck.MISMATCH


def test_a_signature_of_another_body_is_rejected(body: bytes):
    other = wire_bytes(text_message())
    assert check_signature(SECRETS, body, sign(other)) is SignatureCheck.MISMATCH


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_header_is_reported_missing(body: bytes, header: str | None):
    assert check_signature(SECRETS, body, header) is SignatureCheck.MISSING
    assert not verify_signature(SECRETS, body, header)


def test_a_header_without_the_sha256_prefix_is_malformed(body: bytes):
    digest = sign(body).removeprefix("sha256=")
    for header in (digest, f"sha1={digest}", f"SHA256={digest}", f"sha256:{digest}"):
        assert check_signature(SECRETS, body, header) is SignatureCheck.MALFORMED


@pytest.mark.parametrize("length", [0, 40, 63, 65, 128])
def test_a_digest_of_the_wrong_length_is_malformed(body: bytes, length: int):
    digest = (sign(body).removeprefix("sha256=") * 2)[:length]
    assert check_signature(SECRETS, body, "sha256=" + digest) is SignatureCheck.MALFORMED


@pytest.mark.parametrize("bad", ["g", "z", "-", " ", "\u00e9", "\u0661"])
def test_a_digest_with_a_non_hex_character_is_malformed_not_an_error(body: bytes, bad: str):
    digest = sign(body).removeprefix("sha256=")
    header = "sha256=" + bad + digest[1:]
    assert check_signature(SECRETS, body, header) is SignatureCheck.MALFORMED


def test_an_uppercase_hex_digest_is_accepted(body: bytes):
    header = "sha256=" + sign(body).removeprefix("sha256=").upper()
    assert check_signature(SECRETS, body, header) is SignatureCheck.VALID


def test_during_rotation_any_configured_secret_verifies(body: bytes):
    secrets = ("old_secret_a1", "new_secret_b2")
    assert verify_signature(secrets, body, sign(body, "old_secret_a1"))
    assert verify_signature(secrets, body, sign(body, "new_secret_b2"))
    assert check_signature(secrets, body, sign(body, "third_secret")) is SignatureCheck.MISMATCH


def test_without_configured_secrets_nothing_verifies(body: bytes):
    assert check_signature((), body, sign(body)) is SignatureCheck.MISMATCH
    assert not verify_signature((), body, sign(body, ""))


def test_the_ingress_signs_exactly_as_the_test_builder_does(body: bytes):
    assert signature.sign(APP_SECRET, body) == sign(body)
