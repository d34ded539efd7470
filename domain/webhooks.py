"""What a stored webhook turns into: one event per ``entry[].changes[]``.

The worker parses the raw body with ``schemas.envelope`` and hands the result here as
plain data; this module only decides the event keys and what each event keeps.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    id: str
    time: int | None
    changes: tuple[tuple[str, Mapping[str, Any]], ...]


def list_changes(entries: Iterable[ParsedEntry]) -> list[ChangeRef]:
    """Flatten entries into changes; the (entry, change) indexes are the dedup key.

    Raises:
        UnparseablePayload: the envelope holds no change at all.
    """
    refs = [
        ChangeRef(
            entry_index=e_index,
            change_index=c_index,
            entry_id=entry.id,
            entry_time=entry.time,
            field=field,
            value=value,
        )
        for e_index, entry in enumerate(entries)
        for c_index, (field, value) in enumerate(entry.changes)
    ]
    if not refs:
        raise UnparseablePayload("the envelope holds no change")
    return refs
