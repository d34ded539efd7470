"""Parse a built envelope the way a worker does: wire bytes → envelope → change value."""

from __future__ import annotations

from typing import Any, TypeVar

from schemas.envelope import WebhookEnvelope
from schemas.fields import parse_change_value
from schemas.wire import WireModel
from tests.builders import wire_bytes

M = TypeVar("M", bound=WireModel)


def parse_values(payload: dict[str, Any]) -> list[WireModel | None]:
    """Every change value of ``payload``, parsed from its wire bytes (None: unknown field)."""
    envelope = WebhookEnvelope.model_validate_json(wire_bytes(payload))
    return [
        parse_change_value(change.field, change.value)
        for entry in envelope.entry
        for change in entry.changes
    ]


def parse_value(payload: dict[str, Any], model: type[M]) -> M:
    """The single change value of ``payload``, which must parse as ``model``."""
    (value,) = parse_values(payload)
    assert isinstance(value, model), type(value)
    return value


def value_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The raw ``value`` of the first change, to edit before parsing."""
    value: dict[str, Any] = payload["entry"][0]["changes"][0]["value"]
    return value
