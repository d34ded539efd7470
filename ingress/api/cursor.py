"""Opaque paging cursors: the last row id a page ended on, in unpadded base64url.

Opaque so clients never build or compare them; strict (only the canonical encoding of a
non-negative id decodes) so a mangled cursor is refused instead of silently restarting a walk.
"""

from __future__ import annotations

import base64
import binascii
import re

MAX_CURSOR_LENGTH = 32
_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def encode_cursor(row_id: int) -> str:
    if row_id < 0:
        raise ValueError("a cursor holds a non-negative id")
    return base64.urlsafe_b64encode(str(row_id).encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(text: str) -> int:
    """The id a cursor from ``encode_cursor`` holds.

    Raises:
        ValueError: ``text`` is not a cursor this API issued.
    """
    if not _CURSOR.fullmatch(text):
        raise ValueError("not a cursor from this API")
    try:
        digits = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor from this API") from None
    if not (digits.isascii() and digits.isdigit()) or encode_cursor(int(digits)) != text:
        raise ValueError("not a cursor from this API")
    return int(digits)
