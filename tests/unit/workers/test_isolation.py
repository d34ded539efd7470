"""The isolation gate: many shared attempts at once, or one alone; waiting alone goes first."""

from __future__ import annotations

import threading
import time

from workers.isolation import IsolationGate


def test_shared_attempts_run_together():
    gate = IsolationGate()
    inside = threading.Barrier(3, timeout=5)

    def attempt() -> None:
        with gate.shared():
            inside.wait()  # all three must be inside at the same time

    threads = [threading.Thread(target=attempt) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in threads)


def test_an_alone_attempt_waits_for_shared_ones_and_blocks_new_ones():
    gate = IsolationGate()
    order: list[str] = []
    shared_entered = threading.Event()
    release_shared = threading.Event()

    def first_shared() -> None:
        with gate.shared():
            order.append("shared-1 in")
            shared_entered.set()
            release_shared.wait(timeout=5)
            order.append("shared-1 out")

    def lonely() -> None:
        with gate.alone():
            order.append("alone")

    def late_shared() -> None:
        with gate.shared():
            order.append("shared-2")

    threads = [threading.Thread(target=first_shared)]
    threads[0].start()
    assert shared_entered.wait(timeout=5)
    threads.append(threading.Thread(target=lonely))
    threads[1].start()
    deadline = time.monotonic() + 5
    while not gate._waiting_alone and time.monotonic() < deadline:  # the alone one is queued
        time.sleep(0.01)
    threads.append(threading.Thread(target=late_shared))
    threads[2].start()
    time.sleep(0.05)
    assert order == ["shared-1 in"]  # neither the lone attempt nor the late one got in
    release_shared.set()
    for thread in threads:
        thread.join(timeout=5)
    assert order == ["shared-1 in", "shared-1 out", "alone", "shared-2"]
