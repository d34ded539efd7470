"""Helpers to drive the real ingress app in-process (lifespan running) and observe its effects."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import psycopg
from starlette.applications import Starlette

from adapters.rate_limits import WINDOW_SECONDS
from ingress.app import create_app
from runtime.bootstrap import build_ingress_deps
from runtime.metrics import ingress as metrics
from runtime.settings import Settings
from tests.builders import sign

WEBHOOK_PATH = "/webhooks/whatsapp"
PEER = ("203.0.113.10", 50000)
START_TIMEOUT_S = 5.0


@asynccontextmanager
async def running_ingress(
    settings: Settings, *, peer: tuple[str, int] = PEER, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app ``wapipe ingress`` serves, with its lifespan running (pool, group commit,
    broker), and an HTTP client talking to it in-process from ``peer``.

    ``overrides`` go to ``build_ingress_deps`` (e.g. ``broker=`` a test broker)."""
    async with running_ingress_app(settings, peer=peer, **overrides) as (client, _):
        yield client


@asynccontextmanager
async def running_ingress_app(
    settings: Settings, *, peer: tuple[str, int] = PEER, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    """``running_ingress``, and the app itself (its state: the ingest pipeline)."""
    app = create_app(build_ingress_deps(settings, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, app


async def post_signed(client: httpx.AsyncClient, body: bytes, **headers: str) -> httpx.Response:
    return await client.post(
        WEBHOOK_PATH,
        content=body,
        headers={"X-Hub-Signature-256": sign(body), "Content-Type": "application/json", **headers},
    )


def received(outcome: str) -> float:
    """The current value of ``wapipe_webhooks_received_total{outcome}`` (process-global)."""
    value = metrics.REGISTRY.get_sample_value(
        "wapipe_webhooks_received_total", {"outcome": outcome}
    )
    return value or 0.0


def counter(name: str) -> float:
    """The value of an unlabelled ingress counter, e.g. ``wapipe_enqueue_failures_total``."""
    return metrics.REGISTRY.get_sample_value(name) or 0.0


class LogWatch:
    """Reads the raw log through a connection of its own (not the ingress pool).

    The session's database is shared by the tests, so counts are taken relative to the
    moment the watch was created (emptying the partitioned log per test costs more).
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self._start = self._counts()

    def _counts(self) -> tuple[int, int]:
        row = self.conn.execute(
            "SELECT (SELECT count(*) FROM webhook_log), (SELECT count(*) FROM webhook_digest)"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def added(self) -> tuple[int, int]:
        """(new rows in webhook_log, new rows in webhook_digest) since the watch began."""
        log, digests = self._counts()
        return log - self._start[0], digests - self._start[1]

    def body(self, body: bytes) -> bytes | None:
        """The stored bytes of the row whose sha256 is that of ``body``."""
        row = self.row(body)
        return row.body if row else None

    def row(self, body: bytes) -> StoredRow | None:
        """The logged row of ``body``, found by its sha256."""
        row = self.conn.execute(
            "SELECT id, body, sha256, status, received_at, due_at FROM webhook_log"
            " WHERE sha256 = %s",
            (hashlib.sha256(body).digest(),),
        ).fetchone()
        if row is None:
            return None
        return StoredRow(row[0], bytes(row[1]), bytes(row[2]), row[3], row[4], row[5])


@dataclass(frozen=True)
class StoredRow:
    id: int
    body: bytes
    sha256: bytes
    status: str
    received_at: datetime
    due_at: datetime | None


def wait_for_a_fresh_rate_limit_window(margin_s: float = 5.0) -> None:
    """Rate-limit windows are whole wall-clock minutes: start a counting test well inside one,
    so its requests do not straddle a window boundary (which resets the counters)."""
    remaining = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if remaining < margin_s:
        time.sleep(remaining + 0.05)
