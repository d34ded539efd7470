"""The guard of ``conftest.py`` really refuses: a domain test that reaches out fails."""

from __future__ import annotations

import socket

import pytest

from tests.unit.domain.conftest import SocketOpened


def test_the_guard_refuses_a_connection():
    with pytest.raises(SocketOpened):
        socket.create_connection(("127.0.0.1", 5432))
