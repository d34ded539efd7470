"""One scheduler leads (advisory lock) and runs the periodic jobs; the gauges read Postgres."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, generate_latest

from adapters.backlog import BacklogCollector, read_backlog
from adapters.postgres import create_pool
from adapters.retention import expire_onboardings
from runtime.bootstrap import WorkerDeps
from tests.builders import text_message
from tests.integration.workers.conftest import StoreWebhook
from workers.handlers import HandlerRegistry
from workers.jobs import TOKEN_CHECK
from workers.processing import process_event, split_webhook
from workers.scheduler import (
    TOKEN_CHECK_JOB,
    Job,
    Scheduler,
    metrics_registry,
    onboarding_expiry_job,
    scheduler_jobs,
    token_checks_job,
)


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


# --- the jobs of ``wapipe scheduler`` --------------------------------------------------------


def add_onboarding(db: psycopg.Connection[Any], code: str, status: str, expires_in: str) -> None:
    db.execute(
        "INSERT INTO onboarding (tracking_code, organization_id, status, expires_at)"
        " VALUES (%s, 'org-1', %s, now() + %s::interval)",
        (code, status, expires_in),
    )


def onboarding_statuses(db: psycopg.Connection[Any]) -> dict[str, str]:
    return dict(db.execute("SELECT tracking_code, status FROM onboarding").fetchall())


def add_token(db: psycopg.Connection[Any], waba_id: str, status: str = "unchecked") -> None:
    db.execute(
        "INSERT INTO business_token (waba_id, ciphertext, status) VALUES (%s, 'legacy', %s)",
        (waba_id, status),
    )


def token_jobs(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in db.execute(
            "SELECT job_key, field, value, status, webhook_id, due_at > now() FROM event"
            " WHERE kind = 'job' ORDER BY job_key"
        )
    ]


def test_only_pending_onboardings_past_their_ttl_expire(db: psycopg.Connection[Any]):
    add_onboarding(db, "past-pending", "pending", "-1 minute")
    add_onboarding(db, "future-pending", "pending", "1 hour")
    add_onboarding(db, "past-session", "session_received", "-1 hour")
    add_onboarding(db, "past-completed", "completed", "-1 day")
    job = onboarding_expiry_job()
    assert job.interval_s == 60

    assert job.run(db) == 1

    assert onboarding_statuses(db) == {
        "past-pending": "expired",
        "future-pending": "pending",
        "past-session": "session_received",
        "past-completed": "completed",
    }
    assert job.run(db) == 0  # idempotent
    assert onboarding_statuses(db)["past-pending"] == "expired"


def test_onboarding_expiry_works_through_every_batch(db: psycopg.Connection[Any]):
    for n in range(7):
        add_onboarding(db, f"old-{n}", "pending", "-1 hour")

    assert expire_onboardings(db, batch=3) == 7

    assert set(onboarding_statuses(db).values()) == {"expired"}


def test_the_token_check_tick_enqueues_one_job_per_waba_per_utc_day(
    db: psycopg.Connection[Any], make_settings: Any
):
    add_token(db, "waba-a")
    add_token(db, "waba-b", status="valid")
    day = dt.date(2026, 5, 17)
    job = token_checks_job(make_settings(RELAY_LEASE_SECONDS="30"), today=lambda: day)
    assert job.interval_s == 3600
    assert TOKEN_CHECK_JOB == TOKEN_CHECK  # the name the workers' handler is registered under

    assert job.run(db) == 2

    # Jobs of no webhook, delivered by the workers' relay once their lease is over.
    assert token_jobs(db) == [
        (f"token_check:{waba}:2026-05-17", "token_check", {"waba_id": waba}, "pending", None, True)
        for waba in ("waba-a", "waba-b")
    ]
    # Later ticks the same day enqueue nothing more; a token stored meanwhile gets its job.
    assert job.run(db) == 0
    add_token(db, "waba-c")
    assert job.run(db) == 1
    assert len(token_jobs(db)) == 3
    # The next UTC day, every WABA is due again.
    day = dt.date(2026, 5, 18)
    assert job.run(db) == 3
    assert len(token_jobs(db)) == 6


def test_the_leader_runs_every_scheduler_job(
    database_url: str, db: psycopg.Connection[Any], make_settings: Any
):
    add_onboarding(db, "stale", "pending", "-1 hour")
    add_token(db, "waba-a")
    jobs = scheduler_jobs(make_settings())
    assert {job.name: job.interval_s for job in jobs} == {
        "partitions": 3600,
        "onboarding_expiry": 60,
        "token_checks": 3600,
        "log_retention": 3600,
    }
    scheduler = Scheduler(database_url, jobs)
    try:
        assert scheduler.try_lead()
        scheduler.run_due_jobs()
    finally:
        scheduler.stop()
        scheduler.run_forever()

    assert onboarding_statuses(db) == {"stale": "expired"}
    today = dt.datetime.now(dt.UTC).date()
    assert [row[0] for row in token_jobs(db)] == [f"token_check:waba-a:{today.isoformat()}"]
    assert all(job.next_run > 0 for job in jobs)  # each ran, none failed into a retry loop


# --- the gauges of onboardings, tokens and orphans --------------------------------------------


def test_the_state_gauges_report_every_status_and_the_orphan_connections(
    database_url: str, db: psycopg.Connection[Any]
):
    pool = create_pool(database_url, name="test-state-gauges", max_size=1)
    try:
        registry = metrics_registry(pool)
        empty = generate_latest(registry).decode()
        for status in ("pending", "session_received", "completed", "expired"):
            assert f'wapipe_onboardings{{status="{status}"}} 0.0' in empty
        for status in (
            "unchecked",
            "valid",
            "expiring_soon",
            "critical",
            "invalid",
            "undecryptable",
        ):
            assert f'wapipe_tokens{{status="{status}"}} 0.0' in empty
        assert "wapipe_orphan_connections 0.0" in empty
        assert 'wapipe_backlog_events{kind="event"} 0.0' in empty  # served alongside

        add_onboarding(db, "a", "pending", "1 hour")
        add_onboarding(db, "b", "pending", "1 hour")
        add_onboarding(db, "c", "expired", "-1 hour")
        add_token(db, "waba-1", "critical")
        add_token(db, "waba-2", "critical")
        add_token(db, "waba-3", "valid")
        db.execute(
            "INSERT INTO connection (waba_id, organization_id, status, status_at, status_source)"
            " VALUES ('waba-1', NULL, 'orphan', now(), 'test'),"
            "        ('waba-2', 'org-1', 'active', now(), 'test')"
        )
        text = generate_latest(registry).decode()

        assert 'wapipe_onboardings{status="pending"} 2.0' in text
        assert 'wapipe_onboardings{status="expired"} 1.0' in text
        assert 'wapipe_onboardings{status="completed"} 0.0' in text
        assert 'wapipe_tokens{status="critical"} 2.0' in text
        assert 'wapipe_tokens{status="valid"} 1.0' in text
        assert 'wapipe_tokens{status="invalid"} 0.0' in text
        assert "wapipe_orphan_connections 1.0" in text
    finally:
        pool.close()
