"""Connections as the SaaS reads them, and when one needs the customer to onboard again."""

from __future__ import annotations

from adapters import connection_views
from adapters.connection_views import ConnectionView
from adapters.postgres import Conn
from domain.token_health import RECONNECT_STATUSES, TokenStatus

#: No health check ran yet, or no token is stored (SPEC §16).
UNCHECKED = TokenStatus.UNCHECKED.value


def token_status(view: ConnectionView) -> str:
    """The connection's token status; ``unchecked`` when no token row exists."""
    return view.token_status or UNCHECKED


def reconnect_required(view: ConnectionView) -> bool:
    """The customer must go through Embedded Signup again: a reason was recorded on the
    connection, or its token is critical, invalid or undecryptable."""
    return view.reconnect_reason is not None or token_status(view) in RECONNECT_STATUSES


def list_connections(conn: Conn, organization_id: str) -> list[ConnectionView]:
    return connection_views.list_connections(conn, organization_id)


def get_connection(conn: Conn, waba_id: str) -> ConnectionView | None:
    return connection_views.load_connection(conn, waba_id)
