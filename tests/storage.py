"""Rows as the services write them, for tests that start further down the pipeline."""

from __future__ import annotations

from typing import Any

import psycopg

from adapters.webhook_log import RawWebhook
from tests.builders import wire_bytes


def store_webhook_row(conn: psycopg.Connection[Any], payload: Any) -> int:
    """A webhook row as the ingress writes it (exact wire bytes and digest); its id.

    ``payload`` is a Meta payload (encoded with ``wire_bytes``) or the raw body bytes.
    """
    body = payload if isinstance(payload, bytes) else wire_bytes(payload)
    raw = RawWebhook.of(body)
    row = conn.execute(
        "INSERT INTO webhook_log (sha256, body, due_at)"
        " VALUES (%s, %s, now() + interval '30 s') RETURNING id",
        (raw.digest, raw.body),
    ).fetchone()
    assert row is not None
    return int(row[0])
