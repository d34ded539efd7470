"""SQL for the audit log of operators' actions, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.types.json import Jsonb

from adapters.postgres import Conn

INSERT_AUDIT = "INSERT INTO audit_log (actor, action, subject, details) VALUES (%s, %s, %s, %s)"


class PgAuditRepo:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def record(self, *, actor: str, action: str, subject: str, details: Mapping[str, Any]) -> None:
        self._conn.execute(INSERT_AUDIT, (actor, action, subject, Jsonb(dict(details))))
