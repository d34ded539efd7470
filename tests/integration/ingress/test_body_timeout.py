"""Slow clients: a body not complete within BODY_TIMEOUT_SECONDS gets 408, no row (SPEC §13).

The deadline covers the whole body from the request's start, so a client trickling a byte at a
time holds its request slot for that long at most, however steadily it sends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from runtime.settings import Settings
from tests.builders import sign, text_message, wire_bytes
from tests.integration.ingress.harness import (
    WEBHOOK_PATH,
    LogWatch,
    counter,
    received,
    running_ingress,
)

pytestmark = pytest.mark.anyio

BODY_TIMEOUT_S = 0.5


class TrickledBody:
    """``body`` sent ``chunk_size`` bytes at a time, ``delay`` seconds apart (an ASGI receive
    that waits that long before each chunk)."""

    def __init__(self, body: bytes, *, chunk_size: int, delay: float) -> None:
        self.body = body
        self.chunk_size = chunk_size
        self.delay = delay
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), self.chunk_size):
            await asyncio.sleep(self.delay)
            self.sent += 1
            yield self.body[start : start + self.chunk_size]


def signed_headers(body: bytes) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": sign(body),
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }


async def test_a_body_trickled_slower_than_the_timeout_gets_408_and_no_row(
    make_settings: Callable[..., Settings], log: LogWatch
):
    body = wire_bytes(text_message())
    # Given a signed body that would take ~20 times the timeout to arrive,
    trickle = TrickledBody(body, chunk_size=max(1, len(body) // 20), delay=BODY_TIMEOUT_S)
    settings = make_settings(BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_S))
    async with running_ingress(settings) as client:
        timeouts = counter("wapipe_webhook_body_timeouts_total")
        accepted = received("accepted")
        started = time.monotonic()

        # when it is posted,
        response = await client.post(WEBHOOK_PATH, content=trickle, headers=signed_headers(body))
        elapsed = time.monotonic() - started

        # then the ingress gives up at the deadline: 408, the connection closed, counted,
        assert response.status_code == 408
        assert response.json() == {
            "error": "body_timeout",
            "detail": f"body not complete within {BODY_TIMEOUT_S:g} s",
        }
        assert response.headers["connection"] == "close"
        assert BODY_TIMEOUT_S <= elapsed < BODY_TIMEOUT_S + 1.0
        assert trickle.sent < 20
        assert counter("wapipe_webhook_body_timeouts_total") == timeouts + 1
        assert received("accepted") == accepted
        # and nothing is stored (Meta would retry a real delivery).
    assert log.row(body) is None
    assert log.added() == (0, 0)


async def test_a_body_that_arrives_in_pieces_within_the_timeout_is_accepted(
    make_settings: Callable[..., Settings], log: LogWatch
):
    body = wire_bytes(text_message())
    trickle = TrickledBody(body, chunk_size=max(1, len(body) // 4), delay=BODY_TIMEOUT_S / 10)
    settings = make_settings(BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_S))
    async with running_ingress(settings) as client:
        timeouts = counter("wapipe_webhook_body_timeouts_total")
        response = await client.post(WEBHOOK_PATH, content=trickle, headers=signed_headers(body))
        assert (response.status_code, response.json()) == (200, {"status": "accepted"})
        assert counter("wapipe_webhook_body_timeouts_total") == timeouts
    assert log.body(body) == body


async def test_the_deadline_counts_from_the_request_start_not_from_each_chunk(
    make_settings: Callable[..., Settings], log: LogWatch
):
    body = wire_bytes(text_message())
    # Every chunk comes well inside the timeout, but the whole body does not.
    trickle = TrickledBody(body, chunk_size=max(1, len(body) // 40), delay=BODY_TIMEOUT_S / 5)
    settings = make_settings(BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_S))
    async with running_ingress(settings) as client:
        response = await client.post(WEBHOOK_PATH, content=trickle, headers=signed_headers(body))
        assert response.status_code == 408
    assert log.added() == (0, 0)
