"""A worker dies or loses Postgres in the middle of an event: the event is still processed,
and its effect commits exactly once (SPEC §5 promises)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.builders import text_message, wire_bytes
from tests.e2e.conftest import EnvironFactory
from tests.e2e.helpers import (
    effects_per_event,
    post_all_accepted,
    query,
    scalar,
    wait_for_terminal_webhooks,
)
from tests.processes import WorkerProcess, managed, running_ingress, running_worker, wait_until

pytestmark = pytest.mark.e2e

SLOW_APP = "tests.e2e.worker_apps.slow_effect"
WEBHOOKS = 4
IN_FLIGHT_TIMEOUT_S = 30.0
#: Four 2-second events on two threads, after the lease (2 s) and a worker start.
PROCESSING_DEADLINE_S = 60.0

# Claimed a moment ago: the slow handler has written its effect and sleeps with the
# transaction open for about two more seconds.
_IN_FLIGHT = (
    "SELECT id FROM event WHERE status = 'processing'"
    " AND claimed_at < now() - interval '300 milliseconds' ORDER BY id"
)


def wait_for_events_in_flight(database_url: str) -> list[int]:
    found: list[int] = []

    def some_in_flight() -> bool:
        found[:] = [row[0] for row in query(database_url, _IN_FLIGHT)]
        return bool(found)

    wait_until(some_in_flight, timeout=IN_FLIGHT_TIMEOUT_S, message="an event in flight")
    return found


def assert_each_event_processed_once(database_url: str) -> None:
    assert dict(query(database_url, "SELECT status, count(*) FROM webhook_log GROUP BY 1")) == {
        "processed": WEBHOOKS
    }
    events = [
        row[0]
        for row in query(database_url, "SELECT id FROM event WHERE status = %s", ["processed"])
    ]
    assert len(events) == WEBHOOKS
    assert scalar(database_url, "SELECT count(*) FROM event") == WEBHOOKS
    assert effects_per_event(database_url) == dict.fromkeys(events, 1)


def attempts_of(database_url: str, event_ids: list[int]) -> dict[int, int]:
    return dict(
        query(database_url, "SELECT id, attempts FROM event WHERE id = ANY(%s)", [event_ids])
    )


def test_an_event_whose_worker_was_sigkilled_mid_attempt_is_processed_once_by_the_next_worker(
    make_environ: EnvironFactory, e2e_database_url: str, log_dir: Path
):
    env = make_environ()
    bodies = [wire_bytes(text_message()) for _ in range(WEBHOOKS)]

    with (
        running_ingress(env, log_dir) as base_url,
        httpx.Client(base_url=base_url, timeout=30.0) as client,
    ):
        doomed = WorkerProcess(env, log_dir, module=SLOW_APP, name="worker-killed")
        with managed(doomed):
            doomed.start()
            doomed.wait_ready()
            post_all_accepted(client, bodies)
            wait_for_events_in_flight(e2e_database_url)
            doomed.kill()  # SIGKILL to Dramatiq's whole process group

        interrupted = [
            row[0]
            for row in query(e2e_database_url, "SELECT id FROM event WHERE status = 'processing'")
        ]
        assert interrupted, "the kill should have interrupted at least one attempt"
        # The killed attempt's effect was never committed.
        assert not set(effects_per_event(e2e_database_url)) & set(interrupted)

        with running_worker(env, log_dir, module=SLOW_APP, name="worker-restarted"):
            wait_for_terminal_webhooks(e2e_database_url, WEBHOOKS, timeout=PROCESSING_DEADLINE_S)

    assert_each_event_processed_once(e2e_database_url)
    assert all(n >= 2 for n in attempts_of(e2e_database_url, interrupted).values())


def test_a_worker_whose_postgres_connections_are_cut_mid_attempt_recovers_without_double_effects(
    make_environ: EnvironFactory, e2e_database_url: str, log_dir: Path
):
    env = make_environ()
    bodies = [wire_bytes(text_message()) for _ in range(WEBHOOKS)]

    with (
        running_ingress(env, log_dir) as base_url,
        running_worker(env, log_dir, module=SLOW_APP) as worker,
        httpx.Client(base_url=base_url, timeout=30.0) as client,
    ):
        post_all_accepted(client, bodies)
        in_flight = wait_for_events_in_flight(e2e_database_url)
        terminated = scalar(
            e2e_database_url,
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE %s",
            ["wapipe-worker%"],
        )
        assert terminated >= 1
        wait_for_terminal_webhooks(e2e_database_url, WEBHOOKS, timeout=PROCESSING_DEADLINE_S)
        worker.ensure_running()  # the same process recovered: its pool reconnected

    assert_each_event_processed_once(e2e_database_url)
    assert all(n >= 2 for n in attempts_of(e2e_database_url, in_flight).values())
