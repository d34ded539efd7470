"""``wapipe ingress`` + ``wapipe worker``: every committed webhook ends processed or dead."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builders import mixed_payload, unique_suffix, wire_bytes
from tests.e2e.conftest import EnvironFactory
from tests.e2e.helpers import (
    event_statuses,
    list_webhooks,
    metric_samples,
    post_signed,
    query,
    wait_for_terminal_webhooks,
)
from tests.processes import running_ingress, running_worker

pytestmark = pytest.mark.e2e

MIXED_WEBHOOKS = 200
PROCESSING_DEADLINE_S = 90.0


def change_count(payload: dict[str, Any]) -> int:
    return sum(len(entry["changes"]) for entry in payload["entry"])


def test_two_hundred_mixed_webhooks_all_end_processed_and_the_unparseable_ones_dead(
    make_environ: EnvironFactory, e2e_database_url: str, log_dir: Path
):
    payloads = [mixed_payload(i) for i in range(MIXED_WEBHOOKS)]
    expected_events = {hashlib.sha256(wire_bytes(p)).digest(): change_count(p) for p in payloads}
    unparseable = [
        f"not json {unique_suffix()}".encode(),
        b"\xff\xfe binary " + unique_suffix().encode(),
        json.dumps({"object": "page", "entry": unique_suffix()}).encode(),  # JSON, no envelope
    ]
    bodies = [wire_bytes(p) for p in payloads] + unparseable
    assert len(set(bodies)) == len(bodies), "every body must be unique (not a redelivery)"
    env = make_environ()

    with (
        running_ingress(env, log_dir),
        running_worker(env, log_dir, threads=4),
        httpx.Client(base_url=f"http://127.0.0.1:{env['WAPIPE_PORT']}", timeout=30.0) as client,
        ThreadPoolExecutor(max_workers=4) as pool,
    ):
        responses = list(pool.map(lambda body: post_signed(client, body), bodies))
        assert [r.status_code for r in responses] == [200] * len(bodies)
        assert {r.json()["status"] for r in responses} == {"accepted"}
        wait_for_terminal_webhooks(e2e_database_url, len(bodies), timeout=PROCESSING_DEADLINE_S)
        worker_metrics = httpx.get(
            f"http://127.0.0.1:{env['WAPIPE_WORKER_METRICS_PORT']}/metrics", timeout=10.0
        ).text

    listed = list_webhooks(env)
    assert len(listed) == len(bodies)
    assert len({item["id"] for item in listed}) == len(bodies)
    digests = dict(query(e2e_database_url, "SELECT id, sha256 FROM webhook_log"))
    dead_digests = {hashlib.sha256(body).digest() for body in unparseable}
    for item in listed:
        digest = bytes(digests[item["id"]])
        if digest in dead_digests:
            assert (item["status"], item["events"]) == ("dead", 0), item
        else:
            assert (item["status"], item["events"]) == ("processed", expected_events[digest]), item

    dead_letters = query(
        e2e_database_url, "SELECT webhook_id, event_id, reason FROM dead_letter ORDER BY webhook_id"
    )
    dead_ids = sorted(item["id"] for item in listed if item["status"] == "dead")
    assert dead_letters == [(webhook_id, None, "unparseable") for webhook_id in dead_ids]
    statuses = event_statuses(e2e_database_url)
    assert sum(statuses.values()) == sum(expected_events.values())
    assert set(statuses) == {"processed", "ignored"}, statuses
    ignored = query(e2e_database_url, "SELECT DISTINCT field FROM event WHERE status = 'ignored'")
    assert ignored == [("made_up_field",)]  # every field Meta documents is handled

    # The worker's port serves our metrics and Dramatiq's, from every worker process.
    events = metric_samples(worker_metrics, "wapipe_events_total")
    assert sum(events.values()) == sum(statuses.values())
    assert events[(("field", "messages"), ("outcome", "processed"))] > 0
    assert events[(("field", "other"), ("outcome", "ignored"))] > 0
    split = metric_samples(worker_metrics, "wapipe_webhooks_split_total")
    assert split[(("outcome", "unparseable"),)] == len(unparseable)
    handled = metric_samples(worker_metrics, "dramatiq_messages_total")
    # Webhooks are woken one message per ingest batch and a one-change webhook's event is
    # processed within it; the events of a multi-change webhook each get a message of their
    # own. So Dramatiq counted at least those, plus one wake-up.
    batched = sum(n for n in expected_events.values() if n > 1)
    assert sum(handled.values()) >= batched + 1
