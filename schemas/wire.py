"""Pieces every webhook schema shares: the base model, ids, Unix timestamps, Meta's error object.

The contract of every wire model: frozen; unknown keys are kept (``model_extra``) because Meta
adds fields every quarter; enum-like values stay plain ``str`` so a new value never fails
parsing; a known field with the wrong *type* raises ``pydantic.ValidationError``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainValidator, StringConstraints


class WireModel(BaseModel):
    """Base of every Meta wire model: frozen, unknown keys kept, fields settable by name."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


def _id_as_text(raw: object) -> object:
    # Ids are strings on the wire, but some (template ids, Graph examples) arrive as numbers;
    # a non-negative int is kept as its digits. Anything else is left for `str` to reject.
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return str(raw)
    return raw


WireId = Annotated[str, BeforeValidator(_id_as_text), StringConstraints(min_length=1)]
"""An opaque, non-empty id (wamid, WABA, phone number, media, user): ``str``; an int becomes
its digits."""


#: 9999-12-31T23:59:59Z: the last second a datetime (and Postgres' bigint) can hold as one.
MAX_UNIX_SECONDS = 253_402_300_799


def _unix_seconds(raw: object) -> int:
    # `messages`/`statuses` timestamps are digit strings, most others ints (FACTS §4).
    # `str.isdigit` alone accepts non-ASCII digits such as "²", hence the isascii check.
    seconds: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        seconds = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 12:
        seconds = int(raw)
    if seconds is None or not 0 <= seconds <= MAX_UNIX_SECONDS:
        raise ValueError(
            "expected Unix seconds up to year 9999: a string of ASCII digits or an int"
        )
    return seconds


Timestamp = Annotated[int, PlainValidator(_unix_seconds, json_schema_input_type=int | str)]
"""Unix seconds as an ``int``; accepts ``"1768471200"`` or ``1768471200``, nothing else."""


class ErrorData(WireModel):
    details: str | None = None
    href: str | None = None


class WireError(WireModel):
    """Meta's error object (``errors[]`` in messages, statuses, values, history chunks)."""

    code: int
    title: str | None = None
    message: str | None = None
    error_data: ErrorData | None = None
    href: str | None = None
