"""Business tokens at rest: AES-256-GCM under a named key, bound to the row that owns them.

A ciphertext reads ``v1.<kid>.<nonce>.<ciphertext>`` (SPEC §9): ``kid`` names the key, so old
keys keep decrypting while ``wapipe keys rotate`` moves every row to the first key; nonce (96
random bits, never reused under a key) and ciphertext (with GCM's 16-byte tag) are unpadded
base64url. The associated data is the owning row's identity (``business_token:<waba_id>``):
a ciphertext copied to another row does not authenticate there.

Nothing here prints a token or a key: errors name the key id, ``TokenCipher``'s ``repr``
shows only the key ids, and tokens travel as ``AccessToken``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import TokenUndecryptable
from domain.graph import AccessToken

FORMAT_VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's 96-bit nonce; random, so ~2**32 encryptions per key stay safe
TAG_BYTES = 16
#: The key ids ``WAPIPE_TOKEN_KEYS`` accepts; no dots, so a ciphertext splits unambiguously.
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PREFIX = FORMAT_VERSION + "."
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes | None:
    if not _BASE64URL.fullmatch(text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def is_encrypted(value: str) -> bool:
    """True for a ``v1.`` ciphertext (well-formed or not), False for a legacy plaintext token.

    Anything with the ``v1.`` prefix counts as a ciphertext, so a damaged one is reported as
    undecryptable and never mistaken for a plaintext token (Meta's tokens start ``EAA``).
    """
    return value.startswith(_PREFIX)


def key_id_of(ciphertext: str) -> str | None:
    """The key id a ciphertext names; None for a legacy plaintext or a malformed string."""
    if not is_encrypted(ciphertext):
        return None
    parts = ciphertext.split(".")
    if len(parts) != 4 or not KEY_ID.fullmatch(parts[1]):
        return None
    return parts[1]


def generate_key() -> tuple[str, str]:
    """A new ``(kid, 64 hex digit key)`` for ``WAPIPE_TOKEN_KEYS`` (``kid:hexkey``)."""
    return "k" + os.urandom(4).hex(), os.urandom(KEY_BYTES).hex()


@dataclass(frozen=True, slots=True)
class _Parts:
    kid: str
    nonce: bytes
    sealed: bytes  # ciphertext followed by the tag


def _parse(ciphertext: str) -> _Parts:
    kid = key_id_of(ciphertext)
    if kid is None:
        # The string is not echoed: a plaintext token stored by mistake would be printed.
        raise TokenUndecryptable("token ciphertext is malformed (expected v1.<kid>.<nonce>.<data>)")
    _, _, nonce_text, sealed_text = ciphertext.split(".")
    nonce, sealed = _decode(nonce_text), _decode(sealed_text)
    if nonce is None or len(nonce) != NONCE_BYTES or sealed is None or len(sealed) <= TAG_BYTES:
        raise TokenUndecryptable(f"token ciphertext under key {kid!r} is malformed")
    return _Parts(kid, nonce, sealed)


class TokenCipher:
    """Encrypts under the first key; decrypts under any key it holds (rotation).

    Raises (constructor):
        ValueError: no keys, a key that is not 32 bytes, a malformed or repeated key id.
    """

    __slots__ = ("_first", "_keys")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a token cipher needs at least one key")
        aeads: dict[str, AESGCM] = {}
        for kid, key in keys:
            if not KEY_ID.fullmatch(kid):
                raise ValueError("a key id must be 1-32 letters, digits, '_' or '-'")
            if len(key) != KEY_BYTES:
                raise ValueError(f"token key {kid!r} must be {KEY_BYTES} bytes (AES-256)")
            if kid in aeads:
                raise ValueError(f"token key id {kid!r} is listed twice")
            aeads[kid] = AESGCM(key)
        self._keys = aeads
        self._first = keys[0][0]

    @property
    def first_kid(self) -> str:
        """The id of the key new ciphertexts are made with."""
        return self._first

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id held, the encrypting one first."""
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"TokenCipher(key_ids={list(self._keys)!r})"

    __str__ = __repr__

    def encrypt(self, token: AccessToken, owner: str) -> str:
        """``v1.<first kid>.<nonce>.<ciphertext>``, authenticated together with ``owner``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._first].encrypt(
            nonce, token.reveal().encode("utf-8"), owner.encode("utf-8")
        )
        return f"{_PREFIX}{self._first}.{_encode(nonce)}.{_encode(sealed)}"

    def decrypt(self, ciphertext: str, owner: str) -> AccessToken:
        """The token sealed in ``ciphertext`` for ``owner``.

        Raises:
            TokenUndecryptable: the string is malformed, its key id is not held, or it does
                not authenticate (tampered, or encrypted for another owner).
        """
        parts = _parse(ciphertext)
        aead = self._keys.get(parts.kid)
        if aead is None:
            raise TokenUndecryptable(
                f"token key {parts.kid!r} is not among the configured token keys"
            )
        try:
            plain = aead.decrypt(parts.nonce, parts.sealed, owner.encode("utf-8"))
        except InvalidTag:
            raise TokenUndecryptable(
                f"token ciphertext under key {parts.kid!r} does not authenticate"
                " (tampered, or stored for another row)"
            ) from None
        try:
            return AccessToken(plain.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            # Authentic, so written by us: only a bug encrypts an empty or non-UTF-8 token.
            raise TokenUndecryptable(
                f"token under key {parts.kid!r} decrypts to no usable token"
            ) from None
