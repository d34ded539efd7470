"""The dead-letter queue's operations: list, show, select and replay (CLI, API, console).

A replay commits the dead letter's reset (``adapters.dead_letters.replay_dead_letter``) and its
audit row in one transaction, then enqueues the reset row. The row is due after one relay
lease, so the enqueue is only a shortcut: a broker that is down delays the work and never
loses it (``ReplayEnqueuer`` stops trying after its first failure and says so once).

Rate: replays are bounded so a bulk replay does not flood the workers. The CLI paces a run
with ``Pacer`` (``--rate``, default ``DEFAULT_REPLAY_RATE`` per second); the API and the
console, which replay on request, share one ``ReplayThrottle`` per process (the same rate,
bursts up to the same number) and refuse beyond it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dramatiq

from adapters import dead_letters
from adapters.audit_repo import PgAuditRepo
from adapters.dead_letters import DeadLetter, DeadLetterDetail, ReplayResult, ReplayStatus
from adapters.postgres import Conn
from adapters.queue import enqueue_events, enqueue_webhooks
from domain.errors import DependencyUnavailable
from runtime.services.errors import NotFound

#: Replays per second of a bulk CLI run, and of the API/console per process.
DEFAULT_REPLAY_RATE = 50.0
REPLAY_ACTION = "dead_letter.replay"

Sleep = Callable[[float], None]
#: ``on_result(letter, result, done, total)``: called after each replay (and its enqueue).
OnResult = Callable[[DeadLetter, ReplayResult, int, int], None]


class DeadLetterNotFound(NotFound):
    """Some of the ids asked for name no dead letter."""

    def __init__(self, missing: Sequence[int]) -> None:
        super().__init__(f"no dead letter with id {', '.join(str(i) for i in missing)}")
        self.missing = tuple(missing)


def list_dead_letters(
    conn: Conn,
    *,
    field: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[DeadLetter]:
    """Open dead letters, newest first; ``limit`` 0 = no limit."""
    return dead_letters.list_open_dead_letters(
        conn, field=field, reason=reason, since=since, limit=limit
    )


def show_dead_letter(conn: Conn, dead_letter_id: int) -> DeadLetterDetail | None:
    """One dead letter with its raw body, change value and history; None when unknown."""
    return dead_letters.load_detail(conn, dead_letter_id)


def select_dead_letters(
    conn: Conn,
    ids: Sequence[int] | None = None,
    *,
    field: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
) -> list[DeadLetter]:
    """The dead letters to replay: ``ids`` (each must exist, open or not), in that order; or,
    without ids, every open one matching the filters, oldest death first.

    Raises:
        DeadLetterNotFound: naming every id that does not exist.
    """
    if ids is None:
        return dead_letters.list_open_dead_letters(
            conn, field=field, reason=reason, since=since, limit=0, oldest_first=True
        )
    wanted = list(dict.fromkeys(ids))
    found = dead_letters.load_dead_letters(conn, wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        raise DeadLetterNotFound(missing)
    return [found[i] for i in wanted]


@dataclass
class ReplayEnqueuer:
    """Enqueues replayed rows on the broker ``broker()`` gives (asked on first use); after
    one broker failure it stops trying, calls ``on_failure`` once, and leaves the rest to
    the relay."""

    broker: Callable[[], dramatiq.Broker]
    on_failure: Callable[[DependencyUnavailable], None] | None = None
    failure: str | None = None
    enqueued: int = 0
    used: dramatiq.Broker | None = None

    def send(self, result: ReplayResult) -> None:
        if self.failure is not None:
            return
        if self.used is None:
            self.used = self.broker()
        try:
            if result.event_id is not None:
                self.enqueued += enqueue_events(self.used, [result.event_id])
            elif result.webhook_id is not None:
                self.enqueued += enqueue_webhooks(self.used, [result.webhook_id])
        except DependencyUnavailable as error:
            self.failure = str(error)
            if self.on_failure is not None:
                self.on_failure(error)


@dataclass(frozen=True)
class Pacer:
    """Spreads a bulk replay: a pause of ``1 / rate`` s after each replay but the last."""

    rate: float = DEFAULT_REPLAY_RATE  # replays per second; 0 = no limit
    sleep: Sleep = time.sleep

    def pause(self) -> None:
        if self.rate:
            self.sleep(1.0 / self.rate)


class ReplayThrottle:
    """A token bucket: at most ``rate`` replays per second, bursts up to ``burst``.

    Shared by the requests of one process (thread-safe), so replays asked one by one through
    the API or the console are bounded like a CLI run.
    """

    def __init__(
        self,
        rate: float = DEFAULT_REPLAY_RATE,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("a replay throttle needs a positive rate")
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, int(rate)))
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = threading.Lock()

    def acquire(self, count: int = 1) -> float:
        """Take ``count`` replays: 0.0 when allowed, else the seconds to wait (nothing taken)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= count:
                self._tokens -= count
                return 0.0
            return (count - self._tokens) / self.rate


@dataclass(frozen=True)
class ReplayReport:
    results: tuple[ReplayResult, ...]
    enqueued: int
    #: Why enqueueing stopped (the broker was down): the relay delivers the rest.
    enqueue_failure: str | None = None

    @property
    def replayed(self) -> int:
        return sum(1 for r in self.results if r.status is ReplayStatus.REPLAYED)

    @property
    def failed(self) -> list[ReplayResult]:
        """Dead letters that could not be replayed (their row is gone or no longer dead)."""
        return [r for r in self.results if r.status is ReplayStatus.NOT_REPLAYABLE]

    @property
    def skipped(self) -> int:
        """Already replayed, or purged meanwhile: nothing to do."""
        return len(self.results) - self.replayed - len(self.failed)


def _audit_details(letter: DeadLetter, result: ReplayResult) -> dict[str, Any]:
    return {
        "webhook_id": letter.webhook_id,
        "event_id": letter.event_id,
        "field": letter.field,
        "reason": letter.reason,
        "enqueue": "event" if result.event_id is not None else "webhook",
    }


def replay_one(conn: Conn, letter: DeadLetter, *, actor: str, lease_seconds: int) -> ReplayResult:
    """Reset one dead letter and record who did it, in one transaction (no enqueue).

    Idempotent: a dead letter already replayed is left alone and audited nowhere.
    """
    with conn.transaction():
        # The adapter's transaction becomes a savepoint: a NOT_REPLAYABLE rolls back to it.
        result = dead_letters.replay_dead_letter(conn, letter.id, lease_seconds=lease_seconds)
        if result.status is ReplayStatus.REPLAYED:
            PgAuditRepo(conn).record(
                actor=actor,
                action=REPLAY_ACTION,
                subject=f"dead_letter:{letter.id}",
                details=_audit_details(letter, result),
            )
    return result


def replay_dead_letters(
    conn: Conn,
    letters: Sequence[DeadLetter],
    *,
    actor: str,
    lease_seconds: int,
    enqueuer: ReplayEnqueuer | None = None,
    pacer: Pacer | None = None,
    on_result: OnResult | None = None,
) -> ReplayReport:
    """Replay ``letters`` in order with a fresh attempt budget, each committed (with its
    audit row) before it is enqueued; ``pacer`` spaces the replays. Without ``enqueuer``
    nothing is enqueued: the relay delivers the reset rows after one lease.

    ``conn`` must be an autocommit connection: each replay is its own transaction.
    """
    results: list[ReplayResult] = []
    total = len(letters)
    for done, letter in enumerate(letters, start=1):
        result = replay_one(conn, letter, actor=actor, lease_seconds=lease_seconds)
        results.append(result)
        if result.status is ReplayStatus.REPLAYED and enqueuer is not None:
            enqueuer.send(result)
        if on_result is not None:
            on_result(letter, result, done, total)
        if result.status is ReplayStatus.REPLAYED and pacer is not None and done < total:
            pacer.pause()  # spreads a bulk replay so it does not flood the workers
    return ReplayReport(
        results=tuple(results),
        enqueued=enqueuer.enqueued if enqueuer is not None else 0,
        enqueue_failure=enqueuer.failure if enqueuer is not None else None,
    )
