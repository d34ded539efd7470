"""The two jobs of a worker: split a stored webhook, process one event. No Dramatiq here.

Both are idempotent: a duplicate message finds the row already terminal (or held by the
worker processing it) and does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

import pydantic

from adapters import events as event_rows
from adapters import webhook_log
from adapters.postgres import Conn, classify_db_errors, translate_db_errors
from adapters.queue import enqueue_events
from adapters.unit_of_work import PgUnitOfWork
from domain.errors import (
    ClaimLost,
    DependencyUnavailable,
    PermanentError,
    PipelineError,
    TransientError,
    UnparseablePayload,
)
from domain.ports import UnitOfWork
from domain.token_crypto import TokenCipher
from domain.webhooks import ChangeRef, ParsedEntry, list_changes
from runtime.bootstrap import WorkerDeps
from runtime.metrics import worker as metrics
from schemas.envelope import WebhookEnvelope
from workers.change import Change, Job
from workers.handlers import HandlerRegistry
from workers.isolation import PROCESS_GATE, IsolationGate

log = logging.getLogger(__name__)


class Attempt(Enum):
    SKIPPED = "skipped"  # terminal, missing, or held by another worker
    DONE = "done"  # processed or ignored
    DEAD = "dead"
    RETRY = "retry"
    ISOLATE = "isolate"  # its previous attempt died: run it again alone (internal)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: Attempt
    delay_ms: int = 0


def parse_changes(body: bytes) -> list[ChangeRef]:
    """The changes of a raw webhook body.

    Raises:
        UnparseablePayload: not JSON, not a WhatsApp envelope, or no change at all.
    """
    try:
        envelope = WebhookEnvelope.model_validate_json(body)
    except pydantic.ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in error.errors(include_input=False)[:5]
        )
        raise UnparseablePayload(details or "invalid envelope") from None
    return list_changes(
        ParsedEntry(e.id, e.time, tuple((c.field, c.value) for c in e.changes))
        for e in envelope.entry
    )


def change_of(event: event_rows.EventRecord) -> Change:
    # A change always has its entry and webhook (the table's check constraint says so).
    assert event.entry_id is not None
    assert event.webhook_received_at is not None
    return Change(
        event_id=event.id,
        field=event.field,
        entry_id=event.entry_id,
        entry_time=event.entry_time,
        received_at=event.webhook_received_at,
        value=event.value,
        nul_replaced=event.nul_replaced,
    )


def split_webhook(deps: WorkerDeps, webhook_id: int, *, enqueue: bool = True) -> list[int]:
    """Turn a ``received`` webhook into pending events and enqueue them; their ids.

    With ``enqueue`` False the caller sends them (``split_and_process``).

    Raises:
        DependencyUnavailable: Postgres failed; the broker retries the message.
    """
    settings = deps.settings
    lease = settings.relay_lease_seconds
    with translate_db_errors(), deps.pool.connection() as conn:
        with conn.transaction():
            webhook = webhook_log.count_split_attempt(conn, webhook_id, lease_seconds=lease)
        if webhook is None:
            return []
        if settings.retry.is_exhausted(webhook.split_attempts - 1):
            with conn.transaction():
                webhook_log.dead_letter_webhook(
                    conn,
                    webhook,
                    reason="max_attempts",
                    error="split attempts exhausted without an outcome (worker crash?)",
                )
            metrics.WEBHOOKS_SPLIT.labels("dead").inc()
            return []
        try:
            changes = parse_changes(webhook.body)
        except UnparseablePayload as error:
            with conn.transaction():  # guarded: only a still-received webhook dies
                dead = webhook_log.dead_letter_webhook(
                    conn, webhook, reason=error.reason, error=str(error)
                )
            if dead:
                metrics.WEBHOOKS_SPLIT.labels("unparseable").inc()
                log.warning(
                    "webhook dead-lettered",
                    extra={"webhook_id": webhook.id, "reason": error.reason},
                )
            return []
        with conn.transaction():
            # Marking it split locks the row and checks nobody split it meanwhile; the
            # events are inserted in the same transaction, so both commit or neither.
            if not webhook_log.mark_split(conn, webhook.id, webhook.received_at, len(changes)):
                return []
            ids = event_rows.insert_events(
                conn, webhook.id, webhook.received_at, changes, lease_seconds=lease
            )
    metrics.WEBHOOKS_SPLIT.labels("split").inc()
    if enqueue:
        send_events(deps, ids)
    return ids


def split_and_process(deps: WorkerDeps, registry: HandlerRegistry, webhook_id: int) -> list[int]:
    """Split a webhook; a one-change webhook (most of Meta's traffic) is processed right here
    instead of through a second broker message. Its event is a row like any other: the
    attempt is counted and committed before the handler, so a crash here is recovered by the
    relay and charged to the event, as in ``process_event``.

    Raises:
        DependencyUnavailable: Postgres failed during the split; the broker retries it.
    """
    ids = split_webhook(deps, webhook_id, enqueue=False)
    if len(ids) != 1:
        send_events(deps, ids)
        return ids
    try:
        result = process_event(deps, registry, ids[0])
    except DependencyUnavailable as error:
        # The event is committed: its own message retries it (with Dramatiq's backoff).
        log.warning("inline attempt failed; the event goes through the queue", extra={
            "event_id": ids[0], "error": str(error)})  # fmt: skip
        send_events(deps, ids)
        return ids
    if result.outcome is Attempt.RETRY:
        send_events(deps, ids, delay_ms=result.delay_ms)
    return ids


def send_events(deps: WorkerDeps, event_ids: Sequence[int], *, delay_ms: int | None = None) -> None:
    """Best effort: what cannot be enqueued now is re-enqueued by the relay after the lease."""
    try:
        enqueue_events(deps.broker, event_ids, delay_ms=delay_ms)
    except DependencyUnavailable as error:
        metrics.WORKER_ENQUEUE_FAILURES.inc()
        log.warning("event enqueue failed; the relay will retry", extra={"error": str(error)})
    except Exception:
        # Not an outage (a bug in encoding, a broker refusing the message): the events are
        # committed with a lease, so the relay still delivers them; say loudly that it had to.
        metrics.WORKER_ENQUEUE_FAILURES.inc()
        log.exception("event enqueue failed unexpectedly; the relay will retry")


def process_event(
    deps: WorkerDeps,
    registry: HandlerRegistry,
    event_id: int,
    *,
    gate: IsolationGate = PROCESS_GATE,
) -> AttemptResult:
    """One attempt at one event: claim, handle, record the outcome.

    An event whose previous attempt died with its worker runs alone in the process
    (``workers.isolation``), so a poison event's crashes are charged to it only.

    Raises:
        DependencyUnavailable: Postgres failed before the outcome was recorded; the broker
            retries and the next claim counts another attempt.
    """
    with gate.shared():
        result = _attempt_event(deps, registry, event_id, isolated=False)
    if result.outcome is not Attempt.ISOLATE:
        return result
    with gate.alone():
        return _attempt_event(deps, registry, event_id, isolated=True)


def _attempt_event(
    deps: WorkerDeps, registry: HandlerRegistry, event_id: int, *, isolated: bool
) -> AttemptResult:
    started = time.perf_counter()
    with translate_db_errors(), deps.pool.connection() as conn:
        claimed: event_rows.Claim | AttemptResult | None = event_rows.claim_ready_event(
            conn,
            event_id,
            lease_seconds=deps.settings.relay_lease_seconds,
            max_attempts=deps.settings.retry.max_attempts,
        )
        if claimed is None:  # not the common case: held, terminal, died, exhausted
            with conn.transaction():
                claimed = _claim(deps, conn, event_id, isolated=isolated)
        if not isinstance(claimed, event_rows.Claim):
            return claimed
        field = metrics.known_field(claimed.event.field)
        try:
            return _run_claimed(deps, registry, conn, claimed, field)
        finally:
            metrics.EVENT_DURATION.labels(field).observe(time.perf_counter() - started)


def _claim(
    deps: WorkerDeps, conn: Conn, event_id: int, *, isolated: bool
) -> event_rows.Claim | AttemptResult:
    """Step 1, in its own transaction: count the attempt, or say why there is none."""
    lease = deps.settings.relay_lease_seconds
    event = event_rows.lock_open_event(conn, event_id)
    if event is None:
        return AttemptResult(Attempt.SKIPPED)
    if deps.settings.retry.is_exhausted(event.attempts):
        # Earlier attempts never reported back (killed workers): a poison event.
        event_rows.dead_letter_event(
            conn,
            event.id,
            reason="max_attempts",
            error=f"{event.attempts} attempts without an outcome; last error unknown",
        )
        metrics.EVENTS.labels(metrics.known_field(event.field), "dead").inc()
        log.warning(
            "event dead-lettered: its attempts kept dying with their worker",
            extra={"event_id": event.id, "field": event.field, "attempts": event.attempts},
        )
        return AttemptResult(Attempt.DEAD)
    if not isolated and event.previous_attempt_died(lease):
        return AttemptResult(Attempt.ISOLATE)
    return event_rows.claim_event(conn, event.id, lease_seconds=lease)


def _run_claimed(
    deps: WorkerDeps, registry: HandlerRegistry, conn: Conn, claim: event_rows.Claim, field: str
) -> AttemptResult:
    """Step 2: the handler and the outcome in one transaction; step 3 on failure.

    A job runs before that transaction, outside any: it may call Graph, which must never
    happen while the event's row is locked; it records its own steps as it goes.
    """
    event = claim.event
    try:
        if event.is_job:
            with classify_db_errors():
                outcome = registry.run_job(job_of(event, conn, deps.cipher))
        with conn.transaction():
            if not event_rows.lock_claim(conn, claim):
                raise ClaimLost(f"event {event.id} was claimed by another worker")
            if not event.is_job:
                with classify_db_errors():
                    outcome = registry.dispatch(change_of(event), PgUnitOfWork(conn, deps.cipher))
            finished = event_rows.finish_event(conn, claim, outcome.value)
            if finished is None:
                raise ClaimLost(f"event {event.id} was claimed by another worker")
    except ClaimLost:
        return AttemptResult(Attempt.SKIPPED)
    except PermanentError as error:
        with conn.transaction():
            event_rows.dead_letter_event(
                conn, event.id, reason=error.reason, error=str(error), token=claim.token
            )
        metrics.EVENTS.labels(field, "dead").inc()
        log.warning(
            "event dead-lettered",
            extra={"event_id": event.id, "field": event.field, "reason": error.reason},
        )
        return AttemptResult(Attempt.DEAD)
    except Exception as error:
        if conn.broken:
            raise DependencyUnavailable("postgres: connection lost mid-attempt") from error
        return _after_failure(deps, conn, claim, field, error)
    metrics.EVENTS.labels(field, outcome.value).inc()
    progress = finished.webhook
    if progress is not None and progress.events_open == 0:
        lag = datetime.now(UTC) - progress.received_at
        metrics.WEBHOOK_LAG.observe(max(lag.total_seconds(), 0.0))
    return AttemptResult(Attempt.DONE)


def job_of(event: event_rows.EventRecord, conn: Conn, cipher: TokenCipher | None) -> Job:
    @contextmanager
    def transaction() -> Iterator[UnitOfWork]:
        with conn.transaction():
            yield PgUnitOfWork(conn, cipher)

    return Job(
        event_id=event.id,
        field=event.field,
        params=event.value,
        attempts=event.attempts,
        transaction=transaction,
    )


def _after_failure(
    deps: WorkerDeps,
    conn: Conn,
    claim: event_rows.Claim,
    field: str,
    error: Exception,
) -> AttemptResult:
    policy = deps.settings.retry
    attempts = claim.event.attempts
    description = f"{type(error).__name__}: {error}"
    reason = error.reason if isinstance(error, PipelineError) else "unclassified"
    if policy.is_exhausted(attempts):
        with conn.transaction():
            event_rows.dead_letter_event(
                conn,
                claim.event.id,
                reason="max_attempts",
                error=f"last attempt failed ({reason}): {description}",
                token=claim.token,
            )
        metrics.EVENTS.labels(field, "dead").inc()
        log.warning(
            "event dead-lettered after its last attempt",
            extra={"event_id": claim.event.id, "attempts": attempts, "reason": reason},
        )
        return AttemptResult(Attempt.DEAD)
    delay = policy.backoff_ms(attempts, deps.draw())
    with conn.transaction():
        event_rows.schedule_retry(
            conn,
            claim,
            delay_ms=delay,
            error=description,
            lease_seconds=deps.settings.relay_lease_seconds,
        )
    metrics.EVENTS.labels(field, "retried").inc()
    log.warning(
        "event attempt failed; retrying",
        # An expected, classified failure needs no traceback; anything else does.
        exc_info=None if isinstance(error, TransientError) else error,
        extra={
            "event_id": claim.event.id,
            "attempts": attempts,
            "delay_ms": delay,
            "reason": reason,
        },
    )
    return AttemptResult(Attempt.RETRY, delay)
