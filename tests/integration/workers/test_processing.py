"""Splitting webhooks into events and the claim/commit protocol of one event attempt."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker

from adapters import events as event_rows
from adapters.queue import EVENTS_QUEUE
from domain.errors import ConcurrencyConflict, DependencyUnavailable, InvalidChange
from domain.ports import HistoryEntry, UnitOfWork
from runtime.bootstrap import WorkerDeps
from runtime.metrics import worker as metrics
from tests.builders import envelope, load_payload, text_message
from tests.effects import effects_per_event, record_effect
from tests.integration.workers.conftest import StoreWebhook, queued_ids
from workers.change import Change, Outcome
from workers.handlers import HandlerRegistry
from workers.isolation import IsolationGate
from workers.processing import Attempt, process_event, split_webhook


def webhook_row(db: psycopg.Connection[Any], webhook_id: int) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT status, events_total, events_open, events_dead FROM webhook_log WHERE id = %s",
        (webhook_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def event_row(db: psycopg.Connection[Any], event_id: int) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT status, attempts, last_error IS NOT NULL FROM event WHERE id = %s", (event_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def dead_letters(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in db.execute(
            "SELECT webhook_id, event_id, field, reason, attempts FROM dead_letter ORDER BY id"
        )
    ]


def effect_handler(calls: list[int]) -> Any:
    def handle(change: Change, uow: UnitOfWork) -> Outcome:
        calls.append(change.event_id)
        return record_effect(change, uow)

    return handle


def effects(db: psycopg.Connection[Any]) -> list[int]:
    """The event ids of the committed effects, one entry per effect (sorted)."""
    return sorted(event for event, count in effects_per_event(db).items() for _ in range(count))


# --- split ---------------------------------------------------------------------------------


def test_a_webhook_is_split_into_one_pending_event_per_change(
    deps: WorkerDeps,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
    stub_broker: StubBroker,
):
    webhook_id = store_webhook(load_payload("batched_multiple_changes_one_entry"))
    ids = split_webhook(deps, webhook_id)
    assert len(ids) == 2
    rows = db.execute(
        "SELECT entry_index, change_index, field, status, attempts, entry_id FROM event"
        " WHERE webhook_id = %s ORDER BY id",
        (webhook_id,),
    ).fetchall()
    assert rows == [
        (0, 0, "messages", "pending", 0, "327740019283356"),
        (0, 1, "messages", "pending", 0, "327740019283356"),
    ]
    assert webhook_row(db, webhook_id) == ("split", 2, 2, 0)
    assert queued_ids(stub_broker, EVENTS_QUEUE) == ids


def test_splitting_the_same_webhook_again_does_nothing(
    deps: WorkerDeps,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
    stub_broker: StubBroker,
):
    webhook_id = store_webhook(text_message())
    first = split_webhook(deps, webhook_id)
    assert split_webhook(deps, webhook_id) == []
    assert db.execute("SELECT count(*) FROM event").fetchone() == (1,)
    assert queued_ids(stub_broker, EVENTS_QUEUE) == first


def test_a_signed_body_that_is_not_an_envelope_is_dead_lettered_as_unparseable(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    webhook_id = store_webhook(b"this is not json")
    assert split_webhook(deps, webhook_id) == []
    assert webhook_row(db, webhook_id) == ("dead", 0, 0, 0)
    assert dead_letters(db) == [(webhook_id, None, None, "unparseable", 1)]
    body = db.execute("SELECT body FROM webhook_log WHERE id = %s", (webhook_id,)).fetchone()
    assert body == (b"this is not json",)


def test_a_webhook_whose_split_kept_killing_workers_is_dead_lettered(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    webhook_id = store_webhook(text_message())
    db.execute("UPDATE webhook_log SET split_attempts = 3 WHERE id = %s", (webhook_id,))
    assert split_webhook(deps, webhook_id) == []
    assert dead_letters(db) == [(webhook_id, None, None, "max_attempts", 4)]
    assert db.execute("SELECT count(*) FROM event").fetchone() == (0,)


# --- process -------------------------------------------------------------------------------


def test_an_event_with_a_handler_is_processed_and_its_webhook_completes(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    calls: list[int] = []
    registry = HandlerRegistry({"messages": effect_handler(calls)})
    webhook_id = store_webhook(text_message())
    (event_id,) = split_webhook(deps, webhook_id)
    lag_before = metrics.WEBHOOK_LAG._sum.get()
    count_before = metrics.EVENTS.labels("messages", "processed")._value.get()

    result = process_event(deps, registry, event_id)

    assert result.outcome is Attempt.DONE
    assert calls == [event_id]
    assert effects(db) == [event_id]
    assert event_row(db, event_id) == ("processed", 1, False)
    assert webhook_row(db, webhook_id) == ("processed", 1, 0, 0)
    assert metrics.EVENTS.labels("messages", "processed")._value.get() == count_before + 1
    assert metrics.WEBHOOK_LAG._sum.get() > lag_before


def test_a_field_without_a_handler_is_ignored_not_dead_lettered(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    webhook_id = store_webhook(envelope(("made_up_field", {"x": 1})))
    (event_id,) = split_webhook(deps, webhook_id)
    assert process_event(deps, HandlerRegistry(), event_id).outcome is Attempt.DONE
    assert event_row(db, event_id) == ("ignored", 1, False)
    assert webhook_row(db, webhook_id) == ("processed", 1, 0, 0)
    assert dead_letters(db) == []


def test_a_duplicate_message_for_a_finished_event_does_nothing(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    calls: list[int] = []
    registry = HandlerRegistry({"messages": effect_handler(calls)})
    (event_id,) = split_webhook(deps, store_webhook(text_message()))
    process_event(deps, registry, event_id)
    assert process_event(deps, registry, event_id).outcome is Attempt.SKIPPED
    assert calls == [event_id]
    assert effects(db) == [event_id]


def test_a_failing_attempt_rolls_back_its_effects_and_schedules_a_retry(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    def write_then_fail(change: Change, uow: UnitOfWork) -> Outcome:
        effect_handler([])(change, uow)
        raise RuntimeError("downstream hiccup")

    registry = HandlerRegistry({"messages": write_then_fail})
    (event_id,) = split_webhook(deps, store_webhook(text_message()))

    result = process_event(deps, registry, event_id)

    assert result.outcome is Attempt.RETRY
    assert result.delay_ms == 10  # attempt 1, draw 0.0: half of the 10 ms ceiling, floored at min
    assert effects(db) == []
    row = db.execute(
        "SELECT status, attempts, last_error, next_attempt_at > now(), claim_token FROM event"
        " WHERE id = %s",
        (event_id,),
    ).fetchone()
    assert row == ("retrying", 1, "RuntimeError: downstream hiccup", True, None)


def test_an_event_that_keeps_failing_is_dead_lettered_after_max_attempts(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    def always_fail(change: Change, uow: UnitOfWork) -> Outcome:
        raise TimeoutError("graph did not answer")

    registry = HandlerRegistry({"messages": always_fail})
    webhook_id = store_webhook(text_message())
    (event_id,) = split_webhook(deps, webhook_id)

    outcomes = [process_event(deps, registry, event_id).outcome for _ in range(4)]

    assert outcomes == [Attempt.RETRY, Attempt.RETRY, Attempt.DEAD, Attempt.SKIPPED]
    assert event_row(db, event_id) == ("dead", 3, True)
    assert dead_letters(db) == [(webhook_id, event_id, "messages", "max_attempts", 3)]
    assert webhook_row(db, webhook_id) == ("dead", 1, 0, 1)


def test_a_permanent_error_dead_letters_at_once_with_its_reason(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    def reject(change: Change, uow: UnitOfWork) -> Outcome:
        raise InvalidChange("value.messages[0].timestamp is not a number")

    registry = HandlerRegistry({"messages": reject})
    webhook_id = store_webhook(text_message())
    (event_id,) = split_webhook(deps, webhook_id)

    assert process_event(deps, registry, event_id).outcome is Attempt.DEAD
    assert dead_letters(db) == [(webhook_id, event_id, "messages", "invalid_change", 1)]
    error = db.execute("SELECT error FROM dead_letter").fetchone()
    assert error == ("value.messages[0].timestamp is not a number",)


def test_an_event_whose_attempts_never_reported_back_is_dead_lettered_at_its_next_claim(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    calls: list[int] = []
    registry = HandlerRegistry({"messages": effect_handler(calls)})
    webhook_id = store_webhook(text_message())
    (event_id,) = split_webhook(deps, webhook_id)
    # Three workers took it and died mid-attempt: the counter moved, no outcome was recorded.
    db.execute("UPDATE event SET attempts = 3, status = 'processing' WHERE id = %s", (event_id,))

    assert process_event(deps, registry, event_id).outcome is Attempt.DEAD
    assert calls == []
    assert dead_letters(db) == [(webhook_id, event_id, "messages", "max_attempts", 3)]


def test_an_event_held_by_a_live_worker_is_left_alone(
    deps: WorkerDeps, db: psycopg.Connection[Any], database_url: str, store_webhook: StoreWebhook
):
    calls: list[int] = []
    registry = HandlerRegistry({"messages": effect_handler(calls)})
    (event_id,) = split_webhook(deps, store_webhook(text_message()))
    with psycopg.connect(database_url) as other, other.transaction():
        other.execute("SELECT 1 FROM event WHERE id = %s FOR UPDATE", (event_id,))
        assert process_event(deps, registry, event_id).outcome is Attempt.SKIPPED
    assert calls == []
    assert event_row(db, event_id) == ("pending", 0, False)


def test_only_the_latest_claim_may_record_an_outcome(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    (event_id,) = split_webhook(deps, store_webhook(text_message()))
    with deps.pool.connection() as conn:
        with conn.transaction():
            assert event_rows.lock_open_event(conn, event_id) is not None
            stale = event_rows.claim_event(conn, event_id, lease_seconds=30)
        with conn.transaction():
            assert event_rows.lock_open_event(conn, event_id) is not None
            fresh = event_rows.claim_event(conn, event_id, lease_seconds=30)
        with conn.transaction():
            assert not event_rows.lock_claim(conn, stale)
            assert event_rows.finish_event(conn, stale, "processed") is None
            assert not event_rows.schedule_retry(
                conn, stale, delay_ms=5, error="x", lease_seconds=1
            )
        with conn.transaction():
            assert event_rows.lock_claim(conn, fresh)
            assert event_rows.finish_event(conn, fresh, "processed") is not None
    assert event_row(db, event_id) == ("processed", 2, False)


def test_a_connection_lost_mid_attempt_is_reported_as_unavailable_and_counted(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    def drop_connection(change: Change, uow: UnitOfWork) -> Outcome:
        # The worker's backends die while its attempt's transaction is open.
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'wapipe-worker' AND datname = current_database()"
        )
        return Outcome.PROCESSED

    (event_id,) = split_webhook(deps, store_webhook(text_message()))
    with pytest.raises(DependencyUnavailable):
        process_event(deps, HandlerRegistry({"messages": drop_connection}), event_id)
    # The attempt was counted before the handler ran; the relay brings the event back.
    assert event_row(db, event_id) == ("processing", 1, False)
    calls: list[int] = []
    assert (
        process_event(deps, HandlerRegistry({"messages": effect_handler(calls)}), event_id).outcome
        is Attempt.DONE
    )
    assert event_row(db, event_id) == ("processed", 2, False)


def test_events_of_one_webhook_finishing_concurrently_complete_the_webhook_once(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    from concurrent.futures import ThreadPoolExecutor

    changes = [("messages", {"n": n}) for n in range(12)]
    webhook_id = store_webhook(envelope(*changes))
    ids = split_webhook(deps, webhook_id)
    registry = HandlerRegistry({"messages": lambda change, uow: Outcome.PROCESSED})
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda i: process_event(deps, registry, i).outcome, ids))
    assert outcomes == [Attempt.DONE] * 12
    assert webhook_row(db, webhook_id) == ("processed", 12, 0, 0)


class RecordingGate(IsolationGate):
    def __init__(self) -> None:
        super().__init__()
        self.entered: list[str] = []

    @contextmanager
    def shared(self) -> Iterator[None]:
        self.entered.append("shared")
        with super().shared():
            yield

    @contextmanager
    def alone(self) -> Iterator[None]:
        self.entered.append("alone")
        with super().alone():
            yield


def test_an_event_whose_last_attempt_died_with_its_worker_runs_alone(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    calls: list[int] = []
    registry = HandlerRegistry({"messages": effect_handler(calls)})
    (event_id,) = split_webhook(deps, store_webhook(text_message()))
    # A worker claimed it a lease ago and never reported: it died (maybe because of it).
    db.execute(
        "UPDATE event SET status = 'processing', attempts = 1,"
        " claimed_at = now() - interval '31 s' WHERE id = %s",
        (event_id,),
    )
    gate = RecordingGate()
    assert process_event(deps, registry, event_id, gate=gate).outcome is Attempt.DONE
    assert gate.entered == ["shared", "alone"]
    assert calls == [event_id]
    assert event_row(db, event_id) == ("processed", 2, False)


def test_an_event_claimed_recently_or_retrying_shares_the_process(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    registry = HandlerRegistry({"messages": lambda change, uow: Outcome.PROCESSED})
    first, second = (split_webhook(deps, store_webhook(text_message()))[0] for _ in range(2))
    db.execute(
        "UPDATE event SET status = 'processing', attempts = 1, claimed_at = now() WHERE id = %s",
        (first,),
    )
    db.execute(
        "UPDATE event SET status = 'retrying', attempts = 1,"
        " claimed_at = now() - interval '1 hour' WHERE id = %s",
        (second,),
    )
    gate = RecordingGate()
    for event_id in (first, second):
        assert process_event(deps, registry, event_id, gate=gate).outcome is Attempt.DONE
    assert gate.entered == ["shared", "shared"]


def test_data_postgres_refuses_is_dead_lettered_as_data_error_at_the_first_attempt(
    deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook
):
    def write_unstorable_text(change: Change, uow: UnitOfWork) -> Outcome:
        uow.accounts.add_history(
            HistoryEntry(
                source="holds \x00 a NUL",
                waba_id=change.entry_id,
                field=change.field,
                kind="probe",
                subject="waba",
                occurred_at=change.received_at,
                details={},
            )
        )
        return Outcome.PROCESSED

    webhook_id = store_webhook(text_message())
    (event_id,) = split_webhook(deps, webhook_id)

    result = process_event(deps, HandlerRegistry({"messages": write_unstorable_text}), event_id)

    assert result.outcome is Attempt.DEAD
    assert dead_letters(db) == [(webhook_id, event_id, "messages", "data_error", 1)]


def test_a_concurrency_conflict_is_retried_without_a_traceback(
    deps: WorkerDeps,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
    caplog: pytest.LogCaptureFixture,
):
    def conflict(change: Change, uow: UnitOfWork) -> Outcome:
        raise ConcurrencyConflict("postgres: DeadlockDetected")

    (event_id,) = split_webhook(deps, store_webhook(text_message()))

    with caplog.at_level("WARNING"):
        result = process_event(deps, HandlerRegistry({"messages": conflict}), event_id)

    assert result.outcome is Attempt.RETRY
    (record,) = [r for r in caplog.records if r.getMessage().startswith("event attempt failed")]
    assert record.reason == "db_conflict"  # type: ignore[attr-defined]
    assert record.exc_info is None


def test_an_unclassified_error_is_retried_and_logged_with_its_traceback(
    deps: WorkerDeps,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
    caplog: pytest.LogCaptureFixture,
):
    def bug(change: Change, uow: UnitOfWork) -> Outcome:
        raise KeyError("a bug in a handler")

    (event_id,) = split_webhook(deps, store_webhook(text_message()))

    with caplog.at_level("WARNING"):
        result = process_event(deps, HandlerRegistry({"messages": bug}), event_id)

    assert result.outcome is Attempt.RETRY
    (record,) = [r for r in caplog.records if r.getMessage().startswith("event attempt failed")]
    assert record.reason == "unclassified"  # type: ignore[attr-defined]
    assert record.exc_info is not None
