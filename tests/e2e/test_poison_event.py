"""A poison event kills its worker process on every attempt: it is dead-lettered after
``MAX_ATTEMPTS`` attempts counted in Postgres, and the rest of the traffic is processed.

Dramatiq's main process does not replace a worker process that died: it stops the others and
exits with the dead process's status (dramatiq/cli.py ``main``). Production relies on a
supervisor (systemd, Kubernetes) to start it again; these tests play that supervisor.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.builders import envelope, text_message, unique_suffix, wire_bytes
from tests.e2e.conftest import EnvironFactory
from tests.e2e.helpers import (
    effects_per_event,
    list_webhooks,
    post_all_accepted,
    query,
    webhook_statuses,
)
from tests.e2e.worker_apps import POISON_EXIT_CODE, POISON_FIELD
from tests.processes import WorkerProcess, managed, running_ingress

pytestmark = pytest.mark.e2e

CRASHING_APP = "tests.e2e.worker_apps.crashing"
CRASHING_SLOWLY_APP = "tests.e2e.worker_apps.crashing_slowly"
MAX_ATTEMPTS = 3
GOOD_BEFORE = 3
GOOD_AFTER = 3
TEST_DEADLINE_S = 90.0


def poison_body() -> bytes:
    return wire_bytes(envelope((POISON_FIELD, {"n": unique_suffix()})))


def all_webhooks_terminal(database_url: str, expected: int) -> bool:
    statuses = webhook_statuses(database_url)
    return sum(statuses.values()) == expected and set(statuses) <= {"processed", "dead"}


def supervise_until_settled(
    worker: WorkerProcess, database_url: str, expected_webhooks: int, deadline: float
) -> int:
    """Restart the worker whenever it dies, until every webhook is terminal; the crash count.

    Only the poison handler may end the worker, and at most ``MAX_ATTEMPTS`` times.
    """
    crashes = 0
    while not all_webhooks_terminal(database_url, expected_webhooks):
        assert time.monotonic() < deadline, (
            f"not settled after {TEST_DEADLINE_S:.0f} s ({crashes} crashes): "
            f"{webhook_statuses(database_url)}\n{worker.log_tail()}"
        )
        if not worker.is_running():
            assert worker.returncode() == POISON_EXIT_CODE, worker.log_tail()
            crashes += 1
            assert crashes <= MAX_ATTEMPTS, f"crash loop\n{worker.log_tail()}"
            worker.stop()  # reap what is left of the old process group
            worker.start()  # as systemd / Kubernetes would
        time.sleep(0.2)
    worker.ensure_running()
    return crashes


def assert_poison_dead_after_max_attempts(database_url: str) -> None:
    [(poison_event, status, attempts)] = query(
        database_url, "SELECT id, status, attempts FROM event WHERE field = %s", [POISON_FIELD]
    )
    assert (status, attempts) == ("dead", MAX_ATTEMPTS)
    assert query(database_url, "SELECT event_id, field, reason, attempts FROM dead_letter") == [
        (poison_event, POISON_FIELD, "max_attempts", MAX_ATTEMPTS)
    ]


def assert_good_events_processed_once(database_url: str, expected: int) -> None:
    good = [row[0] for row in query(database_url, "SELECT id FROM event WHERE field = 'messages'")]
    assert len(good) == expected
    assert query(database_url, "SELECT DISTINCT status FROM event WHERE field = 'messages'") == [
        ("processed",)
    ]
    assert effects_per_event(database_url) == dict.fromkeys(good, 1)


def test_a_poison_event_is_dead_lettered_after_max_attempts_while_the_rest_is_processed(
    make_environ: EnvironFactory, e2e_database_url: str, log_dir: Path
):
    env = make_environ(MAX_ATTEMPTS=str(MAX_ATTEMPTS))
    good_before = [wire_bytes(text_message()) for _ in range(GOOD_BEFORE)]
    good_after = [wire_bytes(text_message()) for _ in range(GOOD_AFTER)]
    expected_webhooks = GOOD_BEFORE + 1 + GOOD_AFTER
    deadline = time.monotonic() + TEST_DEADLINE_S

    # One thread: the poison is the only event in flight when the process dies, so this test
    # is about the poison alone (its neighbours' fate is the next test's subject).
    worker = WorkerProcess(env, log_dir, module=CRASHING_APP, threads=1)
    with (
        running_ingress(env, log_dir) as base_url,
        httpx.Client(base_url=base_url, timeout=30.0) as client,
        managed(worker),
    ):
        worker.start()
        worker.wait_ready()
        post_all_accepted(client, [*good_before, poison_body(), *good_after])
        crashes = supervise_until_settled(worker, e2e_database_url, expected_webhooks, deadline)

    assert crashes == MAX_ATTEMPTS
    assert_poison_dead_after_max_attempts(e2e_database_url)
    listed = list_webhooks(env)
    assert sorted(item["status"] for item in listed) == ["dead"] + ["processed"] * (
        expected_webhooks - 1
    )
    assert_good_events_processed_once(e2e_database_url, GOOD_BEFORE + GOOD_AFTER)


def test_an_event_in_flight_beside_a_poison_event_is_not_dead_lettered_with_it(
    make_environ: EnvironFactory, e2e_database_url: str, log_dir: Path
):
    env = make_environ(MAX_ATTEMPTS=str(MAX_ATTEMPTS))
    deadline = time.monotonic() + TEST_DEADLINE_S

    # Two threads: the slow good event and the slow poison are in flight together.
    worker = WorkerProcess(env, log_dir, module=CRASHING_SLOWLY_APP, threads=2)
    with (
        running_ingress(env, log_dir) as base_url,
        httpx.Client(base_url=base_url, timeout=30.0) as client,
        managed(worker),
    ):
        worker.start()
        worker.wait_ready()
        post_all_accepted(client, [wire_bytes(text_message()), poison_body()])
        supervise_until_settled(worker, e2e_database_url, 2, deadline)

    assert_good_events_processed_once(e2e_database_url, 1)
    assert_poison_dead_after_max_attempts(e2e_database_url)
