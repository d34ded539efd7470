"""Token encryption: AES-256-GCM under a named key, bound to the owning row (SPEC §9, §15.10)."""

from __future__ import annotations

import base64
import re

import pytest

from domain.errors import PermanentError, TokenUndecryptable
from domain.graph import AccessToken
from domain.token_crypto import (
    KEY_BYTES,
    TokenCipher,
    generate_key,
    is_encrypted,
    key_id_of,
)

TOKEN = AccessToken("EAAGm0PX4ZCpsBAKnownTestTokenValue1234567890")
OWNER = "business_token:102290129340398"
OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher([("k2", NEW_KEY), ("k1", OLD_KEY)])


def test_a_token_round_trips_for_its_owner(cipher: TokenCipher):
    assert cipher.decrypt(cipher.encrypt(TOKEN, OWNER), OWNER) == TOKEN


def test_the_ciphertext_is_v1_kid_nonce_data_in_unpadded_base64url(cipher: TokenCipher):
    ciphertext = cipher.encrypt(TOKEN, OWNER)

    version, kid, nonce, sealed = ciphertext.split(".")
    assert (version, kid) == ("v1", "k2")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", nonce + sealed)
    assert "=" not in ciphertext
    assert len(b64decode(nonce)) == 12
    assert len(b64decode(sealed)) == len(TOKEN.reveal()) + 16  # GCM tag


def test_two_encryptions_of_the_same_token_differ(cipher: TokenCipher):
    first, second = cipher.encrypt(TOKEN, OWNER), cipher.encrypt(TOKEN, OWNER)

    assert first != second
    assert first.split(".")[2] != second.split(".")[2]


def test_a_ciphertext_of_another_owner_does_not_decrypt(cipher: TokenCipher):
    ciphertext = cipher.encrypt(TOKEN, OWNER)

    with pytest.raises(TokenUndecryptable, match="'k2'") as raised:
        cipher.decrypt(ciphertext, "business_token:999")
    assert raised.value.reason == "undecryptable"
    assert isinstance(raised.value, PermanentError)


def test_a_ciphertext_under_another_key_of_the_same_id_does_not_decrypt(cipher: TokenCipher):
    impostor = TokenCipher([("k2", bytes(32))])

    with pytest.raises(TokenUndecryptable, match="does not authenticate"):
        cipher.decrypt(impostor.encrypt(TOKEN, OWNER), OWNER)


@pytest.mark.parametrize("part", [2, 3])
def test_a_flipped_byte_in_nonce_or_data_does_not_decrypt(cipher: TokenCipher, part: int):
    parts = cipher.encrypt(TOKEN, OWNER).split(".")
    raw = bytearray(b64decode(parts[part]))
    raw[len(raw) // 2] ^= 0x01
    parts[part] = b64encode(bytes(raw))

    with pytest.raises(TokenUndecryptable):
        cipher.decrypt(".".join(parts), OWNER)


def test_an_unknown_key_id_does_not_decrypt_and_the_message_names_it(cipher: TokenCipher):
    other = TokenCipher([("k9", NEW_KEY)])

    with pytest.raises(TokenUndecryptable, match="token key 'k9' is not among"):
        cipher.decrypt(other.encrypt(TOKEN, OWNER), OWNER)


@pytest.mark.parametrize("cut", [1, 5, 20, 40])
def test_a_truncated_ciphertext_does_not_decrypt(cipher: TokenCipher, cut: int):
    ciphertext = cipher.encrypt(TOKEN, OWNER)

    with pytest.raises(TokenUndecryptable):
        cipher.decrypt(ciphertext[:-cut], OWNER)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v1.",
        "v1.k2",
        "v1.k2.AAAA",
        "v1.k2.AAAAAAAAAAAAAAAA.",
        "v1.k2.not*base64.AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.k2.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAA.extra",
        "v1.k.2.AAAAAAAAAAAAAAAA.AAAA",
        "v2.k2.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.k2.AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # a 9-byte nonce
        TOKEN.reveal(),
    ],
)
def test_a_malformed_string_does_not_decrypt(cipher: TokenCipher, text: str):
    with pytest.raises(TokenUndecryptable, match="malformed"):
        cipher.decrypt(text, OWNER)


def test_a_ciphertext_of_an_old_key_still_decrypts_after_rotation():
    before = TokenCipher([("k1", OLD_KEY)])
    after = TokenCipher([("k2", NEW_KEY), ("k1", OLD_KEY)])
    ciphertext = before.encrypt(TOKEN, OWNER)

    assert after.decrypt(ciphertext, OWNER) == TOKEN
    assert key_id_of(after.encrypt(TOKEN, OWNER)) == "k2"


def test_dropping_the_old_key_makes_its_ciphertexts_undecryptable():
    ciphertext = TokenCipher([("k1", OLD_KEY)]).encrypt(TOKEN, OWNER)

    with pytest.raises(TokenUndecryptable, match="'k1'"):
        TokenCipher([("k2", NEW_KEY)]).decrypt(ciphertext, OWNER)


def test_the_first_key_encrypts_and_every_key_is_held(cipher: TokenCipher):
    assert cipher.first_kid == "k2"
    assert cipher.key_ids == ("k2", "k1")


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_keys_that_are_not_32_bytes_are_refused(size: int):
    with pytest.raises(ValueError, match="32 bytes"):
        TokenCipher([("k1", bytes(size))])


@pytest.mark.parametrize("kid", ["", "a.b", "k 1", "x" * 33, "k:1"])
def test_malformed_key_ids_are_refused(kid: str):
    with pytest.raises(ValueError, match="key id"):
        TokenCipher([(kid, OLD_KEY)])


def test_no_keys_and_repeated_key_ids_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        TokenCipher([])
    with pytest.raises(ValueError, match="twice"):
        TokenCipher([("k1", OLD_KEY), ("k1", NEW_KEY)])


def test_is_encrypted_tells_v1_ciphertexts_from_legacy_plaintext(cipher: TokenCipher):
    assert is_encrypted(cipher.encrypt(TOKEN, OWNER))
    assert is_encrypted("v1.damaged")  # never mistaken for a plaintext token
    assert not is_encrypted(TOKEN.reveal())
    assert not is_encrypted("")


def test_key_id_of_names_the_key_or_nothing(cipher: TokenCipher):
    assert key_id_of(cipher.encrypt(TOKEN, OWNER)) == "k2"
    assert key_id_of(TOKEN.reveal()) is None
    assert key_id_of("v1.bad kid.AAAA.AAAA") is None
    assert key_id_of("v1.k2.AAAA") is None


def test_generated_keys_are_fresh_32_byte_keys_with_a_usable_id():
    kid, key = generate_key()
    other_kid, other_key = generate_key()

    assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", kid)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert (kid, key) != (other_kid, other_key)
    generated = TokenCipher([(kid, bytes.fromhex(key))])
    assert generated.decrypt(generated.encrypt(TOKEN, OWNER), OWNER) == TOKEN
    assert len(bytes.fromhex(key)) == KEY_BYTES


def test_reprs_and_messages_never_show_the_token_or_key_material(cipher: TokenCipher):
    secrets = [TOKEN.reveal(), OLD_KEY.hex(), NEW_KEY.hex(), repr(OLD_KEY), repr(NEW_KEY)]
    ciphertext = cipher.encrypt(TOKEN, OWNER)
    messages = [repr(cipher), str(cipher), repr(TOKEN), str(cipher.decrypt(ciphertext, OWNER))]
    for bad in (ciphertext[:-3], ciphertext.replace("v1.k2", "v1.k9"), TOKEN.reveal()):
        with pytest.raises(TokenUndecryptable) as raised:
            cipher.decrypt(bad, OWNER)
        messages += [str(raised.value), repr(raised.value)]
    with pytest.raises(TokenUndecryptable) as raised:
        cipher.decrypt(ciphertext, "business_token:other")
    messages += [str(raised.value), repr(raised.value)]
    with pytest.raises(ValueError, match="32 bytes") as refused:
        TokenCipher([("k1", NEW_KEY[:31])])
    messages.append(str(refused.value))

    assert repr(cipher) == "TokenCipher(key_ids=['k2', 'k1'])"
    for message in messages:
        for secret in secrets:
            assert secret not in message
