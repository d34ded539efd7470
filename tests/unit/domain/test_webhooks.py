"""A webhook becomes one change reference per entry[].changes[], keyed by position."""

from __future__ import annotations

import pytest

from domain.errors import PermanentError, UnparseablePayload
from domain.webhooks import ParsedEntry, list_changes


def test_changes_are_numbered_by_entry_and_change_position():
    entries = [
        ParsedEntry("waba-1", 10, (("messages", {"a": 1}), ("messages", {"b": 2}))),
        ParsedEntry("waba-2", None, (("account_update", {"c": 3}),)),
    ]
    refs = list_changes(entries)
    assert [(r.entry_index, r.change_index, r.entry_id, r.field) for r in refs] == [
        (0, 0, "waba-1", "messages"),
        (0, 1, "waba-1", "messages"),
        (1, 0, "waba-2", "account_update"),
    ]
    assert refs[1].value == {"b": 2}
    assert refs[0].entry_time == 10
    assert refs[2].entry_time is None


def test_an_envelope_without_any_change_is_unparseable():
    with pytest.raises(UnparseablePayload, match="no change"):
        list_changes([ParsedEntry("waba-1", None, ())])


def test_unparseable_is_a_permanent_error_with_its_reason():
    error = UnparseablePayload("bad")
    assert isinstance(error, PermanentError)
    assert error.reason == "unparseable"
    assert str(error) == "bad"
