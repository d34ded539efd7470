"""Slow clients against the real ``wapipe ingress`` (uvicorn, uvloop, httptools): SPEC §13, §14.

An attacker's 300 connections, each declaring a 100 KB body and sending one byte every half
second, must neither keep Meta's signed webhooks from their 200 nor hold their slots beyond
``BODY_TIMEOUT_SECONDS``: then each gets 408 (or at least a closed connection) and no row.
Everything stays on 127.0.0.1 and is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.builders import sign, text_message, wire_bytes
from tests.e2e.conftest import EnvironFactory
from tests.e2e.helpers import WEBHOOK_PATH, counter_value, post_signed, scalar
from tests.processes import ThrowawayRedis, running_ingress

pytestmark = pytest.mark.e2e

SLOW_CLIENTS = 300
DECLARED_BYTES = 100 * 1024
TRICKLE_EVERY_S = 0.5
BODY_TIMEOUT_S = 2.5
#: A signed webhook answered slower than this, with the slow clients held, counts as starved.
PROMPT_S = 1.0
#: After the deadline: time for 300 answers to be written and read on a busy 2-core machine.
ANSWER_GRACE_S = 4.0


def complete_status(answer: bytes) -> str | None:
    """The status code of ``answer`` once it holds a whole response (head and body)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found or not head.startswith(b"HTTP/1.1 "):
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head[9:12].decode() if len(body) >= length else None


class SlowClients:
    """``count`` raw connections that send a POST head declaring ``declared`` bytes, then
    trickle the body one byte at a time; each records how the server ended it."""

    def __init__(self, host: str, port: int, count: int, declared: int) -> None:
        self.host, self.port = host, port
        self.count, self.declared = count, declared
        self.selector = selectors.DefaultSelector()
        self.open: set[socket.socket] = set()
        self.answers: dict[socket.socket, bytes] = {}
        self.ended: dict[str, int] = {}  # "408", another status, "closed", "reset"
        self.ended_at: list[float] = []
        self.opened_at = 0.0
        self._last_trickle = 0.0

    def connect(self) -> None:
        filler = b"x" * 64
        head = (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {self.declared}\r\n"
            f"X-Hub-Signature-256: {sign(filler)}\r\n"
            "\r\n"
        ).encode()
        for _ in range(self.count):
            sock = socket.create_connection((self.host, self.port), timeout=5.0)
            sock.sendall(head + b"{")
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
            self.open.add(sock)
            self.answers[sock] = b""
        self.opened_at = self._last_trickle = time.monotonic()

    def trickle(self) -> None:
        """One more byte on every open connection, once every ``TRICKLE_EVERY_S``."""
        now = time.monotonic()
        if now - self._last_trickle < TRICKLE_EVERY_S:
            return
        self._last_trickle = now
        for sock in list(self.open):
            try:
                sock.send(b" ")
            except BlockingIOError:
                pass
            except OSError:
                self._read(sock)  # the server closed it: take its answer, if any

    def answered(self) -> int:
        """Read whatever the server sent; the number of connections it has ended so far."""
        for key, _ in self.selector.select(timeout=0):
            self._read(key.fileobj)  # type: ignore[arg-type]
        return self.count - len(self.open)

    def _read(self, sock: socket.socket) -> None:
        if sock not in self.open:
            return
        try:
            while chunk := sock.recv(65536):
                self.answers[sock] += chunk
        except BlockingIOError:
            # Nothing more for now: done once a whole answer is in, else wait for the rest.
            status = complete_status(self.answers[sock])
            if status is not None:
                self._end(sock, status)
            return
        except OSError:
            self._end(sock, complete_status(self.answers[sock]) or "reset")
            return
        self._end(sock, complete_status(self.answers[sock]) or "closed")  # EOF

    def _end(self, sock: socket.socket, ending: str) -> None:
        self.selector.unregister(sock)
        self.open.discard(sock)
        sock.close()
        self.ended[ending] = self.ended.get(ending, 0) + 1
        self.ended_at.append(time.monotonic())

    def close(self) -> None:
        for sock in list(self.open):
            with contextlib.suppress(OSError, KeyError, ValueError):
                self.selector.unregister(sock)
            sock.close()
        self.open.clear()
        self.selector.close()


@contextlib.contextmanager
def slow_clients(base_url: str, count: int, declared: int) -> Iterator[SlowClients]:
    url = httpx.URL(base_url)
    assert url.host == "127.0.0.1"  # loopback only
    assert url.port is not None
    clients = SlowClients(url.host, url.port, count, declared)
    try:
        yield clients
    finally:
        clients.close()


def test_slow_bodies_neither_starve_signed_webhooks_nor_outlive_the_body_timeout(
    make_environ: EnvironFactory,
    e2e_database_url: str,
    redis_server: ThrowawayRedis,
    log_dir: Path,
):
    env = make_environ(redis=redis_server.url, BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_S))
    with (
        running_ingress(env, log_dir) as base_url,
        httpx.Client(base_url=base_url, timeout=10.0) as client,
        slow_clients(base_url, SLOW_CLIENTS, DECLARED_BYTES) as slow,
    ):
        # Given 300 connections trickling bodies that would take 14 hours to arrive,
        slow.connect()

        # while they are held, signed webhooks keep getting their 200 promptly;
        latencies: list[float] = []
        while time.monotonic() - slow.opened_at < BODY_TIMEOUT_S - TRICKLE_EVERY_S:
            slow.trickle()
            started = time.monotonic()
            answer = post_signed(client, wire_bytes(text_message()))
            latencies.append(time.monotonic() - started)
            assert (answer.status_code, answer.json()) == (200, {"status": "accepted"})
        assert slow.answered() == 0, f"slow clients ended early: {slow.ended}"
        assert len(latencies) >= 5
        assert max(latencies) < PROMPT_S, f"slowest 200 took {max(latencies):.2f} s"

        # then, at the body timeout, every slow one is answered 408 (or at least closed).
        deadline = slow.opened_at + BODY_TIMEOUT_S + ANSWER_GRACE_S
        while slow.answered() < SLOW_CLIENTS and time.monotonic() < deadline:
            slow.trickle()
            time.sleep(0.05)
        assert slow.answered() == SLOW_CLIENTS, f"still open: {len(slow.open)}; {slow.ended}"
        assert set(slow.ended) <= {"408", "closed", "reset"}, slow.ended
        assert slow.ended.get("408", 0) >= SLOW_CLIENTS // 2, slow.ended
        assert min(slow.ended_at) >= slow.opened_at + BODY_TIMEOUT_S - 0.2
        assert counter_value(base_url, "wapipe_webhook_body_timeouts_total") == SLOW_CLIENTS

        # The ingress serves on, and stored exactly the signed webhooks.
        assert post_signed(client, wire_bytes(text_message())).status_code == 200
        stored = scalar(e2e_database_url, "SELECT count(*) FROM webhook_log")
        assert stored == len(latencies) + 1
