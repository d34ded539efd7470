"""What a stored webhook turns into: one event per ``entry[].changes[]``.

The worker parses the raw body with ``schemas.envelope`` and hands the result here as
plain data; this module only decides the event keys and what each event keeps.

A JSON string may legally hold ``\\u0000``, which Postgres' ``text`` and ``jsonb`` refuse. An
event keeps its change with every U+0000 replaced by U+FFFD and says so (``nul_replaced``);
the raw body in the log keeps the exact bytes (SPEC §6).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import UnparseablePayload


@dataclass(frozen=True, slots=True)
class ChangeRef:
    """One change of one entry, addressed by its position in the webhook."""

    entry_index: int
    change_index: int
    entry_id: str
    entry_time: int | None
    field: str
    value: Mapping[str, Any]
    nul_replaced: bool = False


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    id: str
    time: int | None
    changes: tuple[tuple[str, Mapping[str, Any]], ...]


def list_changes(entries: Iterable[ParsedEntry]) -> list[ChangeRef]:
    """Flatten entries into changes; the (entry, change) indexes are the dedup key.

    Raises:
        UnparseablePayload: the envelope holds no change at all, or a number JSON cannot hold.
    """
    refs = [
        _change_ref(e_index, c_index, entry, field, value)
        for e_index, entry in enumerate(entries)
        for c_index, (field, value) in enumerate(entry.changes)
    ]
    if not refs:
        raise UnparseablePayload("the envelope holds no change")
    return refs


def _change_ref(
    entry_index: int, change_index: int, entry: ParsedEntry, field: str, value: Mapping[str, Any]
) -> ChangeRef:
    raw = (entry.id, field, value)
    (entry_id, clean_field, clean_value), replaced = replace_nul(raw)
    return ChangeRef(
        entry_index=entry_index,
        change_index=change_index,
        entry_id=entry_id,
        entry_time=entry.time,
        field=clean_field,
        value=clean_value,
        nul_replaced=replaced,
    )


NUL = "\x00"
REPLACEMENT = "\ufffd"


def replace_nul(data: Any) -> tuple[Any, bool]:
    """``data`` (decoded JSON) with U+0000 replaced by U+FFFD in every string and key, and
    whether anything was replaced. Data without U+0000 comes back as it is.

    Raises:
        UnparseablePayload: a number JSON cannot hold (``NaN``, ``Infinity``, ``1e400``):
            Python's parser accepts them, the JSON standard and Postgres do not.
    """
    if isinstance(data, float) and not math.isfinite(data):
        raise UnparseablePayload("the body holds a number JSON cannot represent (NaN/Infinity)")
    if isinstance(data, str):
        return (data.replace(NUL, REPLACEMENT), True) if NUL in data else (data, False)
    if isinstance(data, Mapping):
        items = [(replace_nul(k), replace_nul(v)) for k, v in data.items()]
        if not any(k[1] or v[1] for k, v in items):
            return data, False
        return {k[0]: v[0] for k, v in items}, True
    if isinstance(data, list | tuple):
        parts = [replace_nul(item) for item in data]
        if not any(replaced for _, replaced in parts):
            return data, False
        cleaned = [item for item, _ in parts]
        return (tuple(cleaned) if isinstance(data, tuple) else cleaned), True
    return data, False
