"""``X-Hub-Signature-256`` verification over the raw request bytes (Meta's webhook signature).

Meta signs the exact bytes it sends (compact JSON with ``\\u00e9``-style and ``\\/`` escapes); any
re-serialisation changes them, so this runs before anything parses the body. Fails closed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from enum import Enum

PREFIX = "sha256="
_HEX_DIGITS = frozenset("0123456789abcdef")


class SignatureCheck(Enum):
    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"


def sign(app_secret: str, raw_body: bytes) -> str:
    """The header value Meta would send for ``raw_body``."""
    return PREFIX + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def check_signature(
    app_secrets: Sequence[str], raw_body: bytes, header: str | None
) -> SignatureCheck:
    """Compare ``header`` with the HMAC of ``raw_body`` under each secret (rotation).

    Every secret is tried, each in constant time, so the answer's timing does not depend on
    which secret matched or where the digests differ.
    """
    if not header:
        return SignatureCheck.MISSING
    if not header.startswith(PREFIX):
        return SignatureCheck.MALFORMED
    received = header[len(PREFIX) :].strip().lower()
    if len(received) != 64 or not _HEX_DIGITS.issuperset(received):
        return SignatureCheck.MALFORMED
    if not app_secrets:
        return SignatureCheck.MISMATCH
    matched = False
    for secret in app_secrets:
        expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
        matched |= hmac.compare_digest(expected, received)
    return SignatureCheck.VALID if matched else SignatureCheck.MISMATCH


def verify_signature(app_secrets: Sequence[str], raw_body: bytes, header: str | None) -> bool:
    """True only for a well-formed header matching one of ``app_secrets``."""
    return check_signature(app_secrets, raw_body, header) is SignatureCheck.VALID
