"""One scheduler leads (advisory lock); the gauges read the backlog from Postgres."""

from __future__ import annotations

from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, generate_latest

from adapters.backlog import BacklogCollector, read_backlog
from adapters.postgres import create_pool
from runtime.bootstrap import WorkerDeps
from tests.builders import text_message
from tests.integration.workers.conftest import StoreWebhook
from workers.handlers import HandlerRegistry
from workers.processing import process_event, split_webhook
from workers.scheduler import Job, Scheduler


def test_only_one_scheduler_leads_and_another_takes_over_when_it_stops(database_url: str):
    runs: list[str] = []
    first = Scheduler(database_url, [Job("a", 60, lambda conn: runs.append("first"))])
    second = Scheduler(database_url, [Job("a", 60, lambda conn: runs.append("second"))])
    try:
        assert first.try_lead()
        assert not second.try_lead()
        first.run_due_jobs()
        first.run_due_jobs()  # not due again within its interval
        assert runs == ["first"]
        first.stop()
        first.run_forever()  # returns at once and closes its connection: leadership released
        assert second.try_lead()
        second.run_due_jobs()
        assert runs == ["first", "second"]
    finally:
        for scheduler in (first, second):
            scheduler.stop()
            scheduler.run_forever()  # returns at once, closing any connection it holds


def test_the_backlog_counts_open_work_and_open_dead_letters(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    assert read_backlog(db)[:2] == (0, 0)
    store_webhook(text_message())  # received, not split
    (event_id,) = split_webhook(deps, store_webhook(text_message()))
    events, webhooks, oldest, dead = read_backlog(db)
    assert (events, webhooks, dead) == (1, 1, 0)
    assert oldest >= 0.0
    db.execute("UPDATE event SET status = 'dead' WHERE id = %s", (event_id,))
    db.execute(
        """
        INSERT INTO dead_letter (webhook_id, webhook_received_at, event_id, reason, error, attempts)
        SELECT webhook_id, webhook_received_at, id, 'x', 'y', 1 FROM event WHERE id = %s
        """,
        (event_id,),
    )
    assert read_backlog(db)[0] == 0
    assert read_backlog(db)[3] == 1


def test_the_gauges_are_exposed_with_their_contract_names(
    database_url: str, deps: WorkerDeps, store_webhook: StoreWebhook
):
    (event_id,) = split_webhook(deps, store_webhook(text_message()))
    pool = create_pool(database_url, name="test-backlog", max_size=1)
    try:
        registry = CollectorRegistry()
        registry.register(BacklogCollector(pool))
        text = generate_latest(registry).decode()
        assert 'wapipe_backlog_events{kind="event"} 1.0' in text
        assert "wapipe_backlog_oldest_seconds " in text
        assert "wapipe_dead_letters 0.0" in text
        process_event(deps, HandlerRegistry(), event_id)
        assert 'wapipe_backlog_events{kind="event"} 0.0' in generate_latest(registry).decode()
    finally:
        pool.close()
