"""What the other WABA fields and the coexistence fields report, kept as history and state.

Template status and quality, number quality and name decisions, reviews, alerts, capability
and security notices are appended to the WABA's history (once per source) and, where they
describe an aspect of a subject, kept as that aspect's latest value (by Meta's time). Fields
we do not act on yet are still stored: nothing Meta sends is dropped.
"""

from __future__ import annotations

from domain.commands import ContactSync, HistoryChunk, WabaReport
from domain.ports import BusinessContact, ChunkRecord, HistoryEntry, StateReport, UnitOfWork


def record_report(cmd: WabaReport, uow: UnitOfWork) -> bool:
    """Append the report to the history and update its aspect; False if already recorded."""
    if not uow.accounts.add_history(
        HistoryEntry(
            source=cmd.source,
            waba_id=cmd.waba_id,
            field=cmd.field,
            kind=cmd.kind,
            subject=cmd.subject,
            occurred_at=cmd.occurred_at,
            details=cmd.details,
        )
    ):
        return False
    if cmd.aspect is not None:
        uow.accounts.set_state(
            StateReport(
                cmd.waba_id, cmd.subject, cmd.aspect, cmd.details, (cmd.occurred_at, cmd.source)
            )
        )
    return True


def record_contact_sync(cmd: ContactSync, uow: UnitOfWork) -> None:
    """Mirror the WhatsApp Business app's contact book (the latest add/remove wins)."""
    uow.coexistence.set_contact(
        BusinessContact(
            phone_number_id=cmd.phone_number_id,
            contact_phone=cmd.contact_phone,
            waba_id=cmd.waba_id,
            full_name=cmd.full_name,
            first_name=cmd.first_name,
            present=cmd.present,
            as_of=(cmd.occurred_at, cmd.source),
        )
    )


def record_history_chunk(cmd: HistoryChunk, uow: UnitOfWork) -> bool:
    """Keep a history chunk's bookkeeping; False if already recorded."""
    return uow.coexistence.add_chunk(
        ChunkRecord(
            source=cmd.source,
            waba_id=cmd.waba_id,
            phone_number_id=cmd.phone_number_id,
            phase=cmd.phase,
            chunk_order=cmd.chunk_order,
            progress=cmd.progress,
            threads=cmd.threads,
            messages=cmd.messages,
            errors=cmd.errors,
        )
    )
