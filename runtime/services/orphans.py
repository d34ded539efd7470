"""Orphan WABAs (SPEC §7.3, §7.6): connections no organization owns, and an operator's claim."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters import connection_views
from adapters.connection_views import ConnectionView, OrphanView
from adapters.postgres import Conn
from adapters.unit_of_work import PgUnitOfWork
from domain.connections import claim_orphan


def list_orphans(conn: Conn) -> list[OrphanView]:
    """Every orphan connection, the longest-waiting first."""
    return connection_views.list_orphans(conn)


def claim(
    conn: Conn, waba_id: str, organization_id: str, actor: str, *, at: datetime | None = None
) -> ConnectionView:
    """Attach the orphan WABA to ``organization_id``; the audit log names ``actor``.

    One transaction: the connection attached, its orphan traffic attributed, the audit row.

    Raises:
        ConnectionNotFound: no connection for that WABA.
        WabaClaimedElsewhere: it is not an orphan.
    """
    with conn.transaction():
        claim_orphan(
            PgUnitOfWork(conn),
            waba_id=waba_id,
            organization_id=organization_id,
            actor=actor,
            at=at or datetime.now(UTC),
        )
        view = connection_views.load_connection(conn, waba_id)
    assert view is not None  # claimed in this very transaction
    return view
