"""SQL for account history and state, and the coexistence tables, in the caller's transaction."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from adapters.postgres import Conn
from domain.ports import BusinessContact, ChunkRecord, HistoryEntry, StateReport

ADD_HISTORY = """
INSERT INTO account_history (source, waba_id, field, kind, subject, occurred_at, details)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source) DO NOTHING
RETURNING id
"""

SET_STATE = """
INSERT INTO account_state (waba_id, subject, aspect, value, as_of, source)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (waba_id, subject, aspect) DO UPDATE
   SET value = EXCLUDED.value, as_of = EXCLUDED.as_of, source = EXCLUDED.source
 WHERE (EXCLUDED.as_of, EXCLUDED.source COLLATE "C")
     > (account_state.as_of, account_state.source COLLATE "C")
"""

SET_CONTACT = """
INSERT INTO business_contact (phone_number_id, contact_phone, waba_id, full_name, first_name,
                              present, as_of, source)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (phone_number_id, contact_phone) DO UPDATE
   SET full_name = EXCLUDED.full_name, first_name = EXCLUDED.first_name,
       present = EXCLUDED.present, as_of = EXCLUDED.as_of, source = EXCLUDED.source
 WHERE (EXCLUDED.as_of, EXCLUDED.source COLLATE "C")
     > (business_contact.as_of, business_contact.source COLLATE "C")
"""

ADD_CHUNK = """
INSERT INTO history_chunk (source, waba_id, phone_number_id, phase, chunk_order, progress,
                           threads, messages, errors)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source) DO NOTHING
RETURNING source
"""


class PgAccountRepo:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def add_history(self, entry: HistoryEntry) -> bool:
        row = self._conn.execute(
            ADD_HISTORY,
            (
                entry.source,
                entry.waba_id,
                entry.field,
                entry.kind,
                entry.subject,
                entry.occurred_at,
                Jsonb(dict(entry.details)),
            ),
        ).fetchone()
        return row is not None

    def set_state(self, report: StateReport) -> None:
        self._conn.execute(
            SET_STATE,
            (
                report.waba_id,
                report.subject,
                report.aspect,
                Jsonb(dict(report.value)),
                report.as_of[0],
                report.as_of[1],
            ),
        )


class PgCoexistenceRepo:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def set_contact(self, contact: BusinessContact) -> None:
        self._conn.execute(
            SET_CONTACT,
            (
                contact.phone_number_id,
                contact.contact_phone,
                contact.waba_id,
                contact.full_name,
                contact.first_name,
                contact.present,
                contact.as_of[0],
                contact.as_of[1],
            ),
        )

    def add_chunk(self, chunk: ChunkRecord) -> bool:
        row = self._conn.execute(
            ADD_CHUNK,
            (
                chunk.source,
                chunk.waba_id,
                chunk.phone_number_id,
                chunk.phase,
                chunk.chunk_order,
                chunk.progress,
                chunk.threads,
                chunk.messages,
                Jsonb([dict(error) for error in chunk.errors]),
            ),
        ).fetchone()
        return row is not None
