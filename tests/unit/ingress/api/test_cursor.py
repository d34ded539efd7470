"""Paging cursors are opaque, round-trip exactly, and refuse anything this API did not write."""

from __future__ import annotations

import pytest

from ingress.api.cursor import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor


@pytest.mark.parametrize("row_id", [0, 1, 9, 10, 12345, 2**63 - 1])
def test_a_cursor_decodes_to_the_id_it_was_made_from(row_id: int):
    cursor = encode_cursor(row_id)

    assert decode_cursor(cursor) == row_id
    assert str(row_id) not in cursor  # opaque: not the id in clear
    assert len(cursor) <= MAX_CURSOR_LENGTH


@pytest.mark.parametrize(
    "text",
    [
        "",
        "MTJ",  # "12" with stray bits: not how encode_cursor writes 12
        "MDEy",  # "012": a leading zero
        "MTI=",  # padded
        "LTE",  # "-1"
        "YWJj",  # "abc"
        "MTI/",  # outside base64url
        "A" * (MAX_CURSOR_LENGTH + 1),
        "\u00e9",
        "MTI\n",
    ],
)
def test_a_cursor_this_api_did_not_write_is_refused(text: str):
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(text)


def test_a_negative_id_makes_no_cursor():
    with pytest.raises(ValueError, match="non-negative"):
        encode_cursor(-1)
