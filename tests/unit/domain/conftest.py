"""The domain's rules run on fakes alone: any attempt to open a socket here fails the test."""

from __future__ import annotations

import socket
from typing import Any

import pytest


class SocketOpened(AssertionError):
    """A unit test of the domain tried to reach the network."""


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise SocketOpened(f"unit tests open no socket (tried {args!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
