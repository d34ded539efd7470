"""The shared wire pieces: ids become text, timestamps become ints, unknown keys survive."""

from __future__ import annotations

import pydantic
import pytest

from schemas.wire import Timestamp, WireError, WireId, WireModel


class Sample(WireModel):
    id: WireId
    at: Timestamp
    optional_id: WireId | None = None


def test_a_numeric_id_is_kept_as_its_digits():
    assert Sample.model_validate({"id": 1093847561029384, "at": 0}).id == "1093847561029384"


def test_a_text_id_is_kept_as_it_is():
    assert Sample.model_validate({"id": "wamid.HBgL==", "at": 0}).id == "wamid.HBgL=="


@pytest.mark.parametrize("bad_id", ["", -5, 1.5, True, None, ["1"], {"id": "1"}])
def test_an_id_that_is_not_text_or_digits_is_rejected(bad_id: object):
    with pytest.raises(pydantic.ValidationError):
        Sample.model_validate({"id": bad_id, "at": 0})


@pytest.mark.parametrize(
    ("raw", "seconds"), [("1768471200", 1768471200), (1768471200, 1768471200), ("0", 0)]
)
def test_a_timestamp_of_digits_or_an_int_is_unix_seconds(raw: object, seconds: int):
    at = Sample.model_validate({"id": "1", "at": raw}).at
    assert at == seconds
    assert type(at) is int


@pytest.mark.parametrize(
    "bad",
    ["yesterday", "", "1768471200.5", "-5", -5, " 17", "\u00b2", "\u0661\u0662", 1.5, True, None],
)
def test_a_timestamp_that_is_not_unix_seconds_is_rejected(bad: object):
    with pytest.raises(pydantic.ValidationError):
        Sample.model_validate({"id": "1", "at": bad})


def test_a_timestamp_parses_from_json_text_too():
    assert Sample.model_validate_json('{"id":7,"at":"1768471200"}').at == 1768471200


def test_unknown_keys_are_kept_in_model_extra():
    sample = Sample.model_validate({"id": "1", "at": 1, "added_next_quarter": {"x": 1}})
    assert sample.model_extra == {"added_next_quarter": {"x": 1}}


def test_wire_models_are_frozen():
    sample = Sample.model_validate({"id": "1", "at": 1})
    with pytest.raises(pydantic.ValidationError):
        sample.id = "2"  # type: ignore[misc]


def test_an_error_keeps_code_title_and_details():
    error = WireError.model_validate(
        {
            "code": 131049,
            "title": "Not delivered",
            "message": "Not delivered",
            "error_data": {"details": "healthy ecosystem"},
            "href": "https://developers.facebook.com/x",
        }
    )
    assert (error.code, error.title, error.href) == (
        131049,
        "Not delivered",
        "https://developers.facebook.com/x",
    )
    assert error.error_data is not None
    assert error.error_data.details == "healthy ecosystem"


def test_an_error_without_a_code_is_rejected():
    with pytest.raises(pydantic.ValidationError):
        WireError.model_validate({"title": "Something went wrong"})
