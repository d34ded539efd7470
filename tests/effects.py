"""A test handler's effect, written through the real unit of work in the attempt's transaction.

Each call appends one history row (its own source, so there is no unique key to hide a
double commit): an event whose effect committed twice shows up as two rows.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from domain.ports import HistoryEntry, UnitOfWork
from workers.change import Change, Outcome

EFFECT_FIELD = "test_effect"

EFFECTS_PER_EVENT = (
    "SELECT waba_id::bigint, count(*) FROM account_history WHERE field = 'test_effect'"
    " GROUP BY 1 ORDER BY 1"
)


def record_effect(change: Change, uow: UnitOfWork) -> Outcome:
    uow.accounts.add_history(
        HistoryEntry(
            source=f"effect:{change.event_id}:{uuid.uuid4().hex}",
            waba_id=str(change.event_id),
            field=EFFECT_FIELD,
            kind="effect",
            subject="test",
            occurred_at=change.received_at,
            details={},
        )
    )
    return Outcome.PROCESSED


def effects_per_event(conn: psycopg.Connection[Any]) -> dict[int, int]:
    """How many committed effects each event has (events without one are absent)."""
    return {int(event): int(count) for event, count in conn.execute(EFFECTS_PER_EVENT)}
