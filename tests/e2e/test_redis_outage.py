"""Redis goes away during ingest and comes back empty: the relay delivers everything stored."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.builders import text_message, wire_bytes
from tests.e2e.conftest import EnvironFactory
from tests.e2e.helpers import (
    counter_value,
    effects_per_event,
    post_all_accepted,
    query,
    scalar,
    wait_for_terminal_webhooks,
)
from tests.processes import ThrowawayRedis, running_ingress, running_worker

pytestmark = pytest.mark.e2e

RECORDING_APP = "tests.e2e.worker_apps.recording"
BEFORE_OUTAGE = 10
DURING_OUTAGE = 10
#: Lease (2 s) + a relay pass + Dramatiq's consumer reconnect (1 s), with room for a busy CI.
RECOVERY_DEADLINE_S = 30.0


def test_webhooks_stored_while_redis_was_down_are_processed_once_after_it_returns(
    make_environ: EnvironFactory,
    e2e_database_url: str,
    redis_server: ThrowawayRedis,
    log_dir: Path,
):
    env = make_environ(redis=redis_server.url)
    before = [wire_bytes(text_message()) for _ in range(BEFORE_OUTAGE)]
    during = [wire_bytes(text_message()) for _ in range(DURING_OUTAGE)]

    with (
        running_ingress(env, log_dir) as base_url,
        running_worker(env, log_dir, module=RECORDING_APP),
        httpx.Client(base_url=base_url, timeout=30.0) as client,
    ):
        post_all_accepted(client, before)
        redis_server.stop()
        post_all_accepted(client, during)
        assert scalar(e2e_database_url, "SELECT count(*) FROM webhook_log") == len(before) + len(
            during
        )
        assert counter_value(base_url, "wapipe_enqueue_failures_total") == len(during)

        redis_server.start()  # same port, empty: every message queued before is gone
        wait_for_terminal_webhooks(
            e2e_database_url, len(before) + len(during), timeout=RECOVERY_DEADLINE_S
        )

    statuses = dict(query(e2e_database_url, "SELECT status, count(*) FROM webhook_log GROUP BY 1"))
    assert statuses == {"processed": len(before) + len(during)}
    events = [row[0] for row in query(e2e_database_url, "SELECT id FROM event")]
    assert len(events) == len(before) + len(during)
    assert scalar(e2e_database_url, "SELECT count(*) FROM event WHERE status <> 'processed'") == 0
    assert effects_per_event(e2e_database_url) == dict.fromkeys(events, 1)
