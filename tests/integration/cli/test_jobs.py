"""Jobs that come from no webhook run through the event machinery (SPEC §6): attempts,
backoff, dead letters with no webhook, replay, and no row lock held while they run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from adapters import dead_letters
from adapters.events import insert_job
from domain.errors import GraphErrorInfo, GraphRejected, GraphUnavailable
from domain.ports import HistoryEntry
from runtime.bootstrap import WorkerDeps
from workers.change import Job, Outcome
from workers.handlers import HandlerRegistry
from workers.processing import Attempt, process_event

JOB = "e2e_job"


def new_job(db: psycopg.Connection[Any], key: str = "job-1", **value: Any) -> int:
    job_id, created = insert_job(db, field=JOB, key=key, value=dict(value), lease_seconds=30)
    assert created
    return job_id


def job_row(db: psycopg.Connection[Any], job_id: int) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT kind, status, attempts, webhook_id FROM event WHERE id = %s", (job_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def record_step(job: Job) -> Outcome:
    with job.transaction() as uow:
        uow.accounts.add_history(
            HistoryEntry(
                source=f"job-step:{job.event_id}:{job.attempts}",
                waba_id=str(job.params["waba_id"]),
                field=JOB,
                kind="step",
                subject="job",
                occurred_at=datetime.now(UTC),
                details={"attempt": job.attempts},
            )
        )
    return Outcome.PROCESSED


def test_a_job_is_processed_with_its_own_transactions_and_ends_processed(
    deps: WorkerDeps, db: psycopg.Connection[Any]
):
    job_id = new_job(db, waba_id="123")
    registry = HandlerRegistry(jobs={JOB: record_step})

    assert process_event(deps, registry, job_id).outcome is Attempt.DONE

    assert job_row(db, job_id) == ("job", "processed", 1, None)
    steps = db.execute("SELECT waba_id FROM account_history WHERE field = %s", (JOB,)).fetchall()
    assert steps == [("123",)]


def test_enqueueing_the_same_job_twice_keeps_one_row(db: psycopg.Connection[Any]):
    first = new_job(db, key="onboarding_completion:abc", tracking_code="abc")

    again, created = insert_job(
        db, field=JOB, key="onboarding_completion:abc", value={}, lease_seconds=30
    )

    assert (again, created) == (first, False)


def test_a_job_holds_no_lock_on_its_event_row_while_it_runs(
    deps: WorkerDeps, db: psycopg.Connection[Any], database_url: str
):
    job_id = new_job(db, waba_id="1")
    seen: list[Any] = []

    def probe(job: Job) -> Outcome:
        # Graph is called here: another session must be able to lock the row at once.
        with psycopg.connect(database_url) as other:
            other.execute("SET lock_timeout = '100ms'")
            seen.append(
                other.execute(
                    "SELECT status FROM event WHERE id = %s FOR UPDATE NOWAIT", (job.event_id,)
                ).fetchone()
            )
        return Outcome.PROCESSED

    assert process_event(deps, HandlerRegistry(jobs={JOB: probe}), job_id).outcome is Attempt.DONE
    assert seen == [("processing",)]


def test_a_transient_graph_failure_retries_the_job(deps: WorkerDeps, db: psycopg.Connection[Any]):
    job_id = new_job(db, waba_id="1")

    def unavailable(job: Job) -> Outcome:
        raise GraphUnavailable("graph: HTTP 503")

    result = process_event(deps, HandlerRegistry(jobs={JOB: unavailable}), job_id)

    assert result.outcome is Attempt.RETRY
    assert job_row(db, job_id)[:3] == ("job", "retrying", 1)


def test_a_permanent_graph_error_dead_letters_the_job_with_metas_code_and_replay_runs_it(
    deps: WorkerDeps, db: psycopg.Connection[Any], run_cli: Any
):
    job_id = new_job(db, waba_id="1")
    refused = GraphRejected("subscribe_app", GraphErrorInfo(100, 33, "Unsupported post request"))

    def rejected(job: Job) -> Outcome:
        raise refused

    assert process_event(deps, HandlerRegistry(jobs={JOB: rejected}), job_id).outcome is (
        Attempt.DEAD
    )
    (letter,) = dead_letters.list_open_dead_letters(db)
    assert (letter.webhook_id, letter.event_id, letter.field, letter.reason) == (
        None,
        job_id,
        JOB,
        "graph_rejected",
    )
    assert "code 100" in letter.error
    listed = json.loads(run_cli("dlq", "list", "--json").out)
    assert [{k: v for k, v in item.items() if k != "dead_at"} for item in listed] == [
        {
            "id": letter.id,
            "webhook_id": None,
            "event_id": job_id,
            "field": JOB,
            "reason": "graph_rejected",
            "error": letter.error,
            "attempts": 1,
        }
    ]
    shown = run_cli("dlq", "show", str(letter.id))
    assert shown.code == 0
    assert "a job" in shown.out

    assert run_cli("dlq", "replay", str(letter.id)).code == 0
    outcome = process_event(deps, HandlerRegistry(jobs={JOB: record_step}), job_id).outcome

    assert outcome is Attempt.DONE
    assert job_row(db, job_id) == ("job", "processed", 1, None)


def test_a_job_nobody_handles_is_dead_lettered_not_ignored(
    deps: WorkerDeps, db: psycopg.Connection[Any]
):
    job_id = new_job(db, waba_id="1")

    assert process_event(deps, HandlerRegistry(), job_id).outcome is Attempt.DEAD
    assert [d.reason for d in dead_letters.list_open_dead_letters(db)] == ["unknown_job"]


@pytest.mark.parametrize("kind", ["change", "job"])
def test_an_event_row_must_have_the_shape_of_its_kind(db: psycopg.Connection[Any], kind: str):
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO event (kind, field, value, job_key) VALUES (%s, 'x', '{}', %s)",
            (kind, None if kind == "job" else "k"),
        )
