"""Run an event whose previous attempt died alone in its worker process.

A process crash (segfault, OOM kill, ``os._exit`` in a library) charges an attempt to every
event in flight in that process, not only to the one that caused it. If they all came back
together they would crash together again, and innocent neighbours of a poison event would be
dead-lettered with it after ``MAX_ATTEMPTS``. So an event whose last claim never reported an
outcome waits until it can run alone: if it is the poison, its next crash charges nobody else.
Every other attempt shares the process as usual. Waiting alone attempts go first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class IsolationGate:
    """A readers-writer gate: many ``shared()`` attempts, or one ``alone()``."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._sharing = 0
        self._alone = False
        self._waiting_alone = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._alone and not self._waiting_alone)
            self._sharing += 1
        try:
            yield
        finally:
            with self._condition:
                self._sharing -= 1
                self._condition.notify_all()

    @contextmanager
    def alone(self) -> Iterator[None]:
        with self._condition:
            self._waiting_alone += 1
            self._condition.wait_for(lambda: not self._alone and self._sharing == 0)
            self._waiting_alone -= 1
            self._alone = True
        try:
            yield
        finally:
            with self._condition:
                self._alone = False
                self._condition.notify_all()


#: One gate per worker process: the crash domain.
PROCESS_GATE = IsolationGate()
