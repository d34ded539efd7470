"""``/api/v1/admin``: orphan WABAs and the dead-letter queue (admin keys only, SPEC §7.6, §8).

The same service functions as ``wapipe orphans`` and ``wapipe dlq``; audit rows name the key
(``api_key:<id> (<name>)``). Replays are bounded per process by the context's
``ReplayThrottle`` (``DEFAULT_REPLAY_RATE`` per second, bursts up to as many): beyond it a
replay answers 429 with ``Retry-After`` and changes nothing.
"""

from __future__ import annotations

import math
from typing import Literal

from adapters.dead_letters import DeadLetter, ReplayStatus
from adapters.postgres import Conn
from domain.errors import ConnectionNotFound, WabaClaimedElsewhere
from ingress.api.auth import actor_of
from ingress.api.connections import connection_answer
from ingress.api.errors import Conflict, NotFound, TooManyRequests
from ingress.api.models import (
    Connection,
    DeadLetterDeath,
    DeadLetterDetail,
    DeadLetterItem,
    DeadLetterList,
    DeadLetterListParams,
    DeadLetterParams,
    Orphan,
    OrphanClaim,
    OrphanList,
    ReplayAnswer,
    ReplayedItem,
    WabaParams,
)
from ingress.api.routing import ApiCall, NoParams
from runtime.services import dead_letters, orphans
from runtime.services.dead_letters import DeadLetterNotFound, ReplayEnqueuer, ReplayReport


async def list_orphans(call: ApiCall[NoParams, None]) -> OrphanList:
    views = await call.context.run(orphans.list_orphans)
    return OrphanList(
        [
            Orphan(
                waba_id=view.waba_id,
                owner_business_id=view.owner_business_id,
                detected_at=view.detected_at,
            )
            for view in views
        ]
    )


async def claim_orphan(call: ApiCall[WabaParams, OrphanClaim]) -> Connection:
    waba_id = call.params.waba_id
    organization = call.body.organization_id
    actor = actor_of(call.principal)
    try:
        view = await call.context.run(
            lambda conn: orphans.claim(conn, waba_id, organization, actor)
        )
    except ConnectionNotFound:
        raise NotFound from None
    except WabaClaimedElsewhere:
        raise Conflict("this WABA is not an orphan: it belongs to an organization") from None
    return connection_answer(view)


def _item(letter: DeadLetter) -> dict[str, object]:
    return {
        "id": letter.id,
        "webhook_id": letter.webhook_id,
        "event_id": letter.event_id,
        "field": letter.field,
        "reason": letter.reason,
        "error": letter.error,
        "attempts": letter.attempts,
        "dead_at": letter.dead_at,
    }


async def list_dead_letters(call: ApiCall[DeadLetterListParams, None]) -> DeadLetterList:
    params = call.params
    letters = await call.context.run(
        lambda conn: dead_letters.list_dead_letters(
            conn,
            field=params.field,
            reason=params.reason,
            since=params.since,
            limit=params.limit,
        )
    )
    return DeadLetterList([DeadLetterItem.model_validate(_item(letter)) for letter in letters])


async def show_dead_letter(call: ApiCall[DeadLetterParams, None]) -> DeadLetterDetail:
    dead_letter_id = call.params.dead_letter_id
    detail = await call.context.run(
        lambda conn: dead_letters.show_dead_letter(conn, dead_letter_id)
    )
    if detail is None:
        raise NotFound
    letter = detail.dead_letter
    return DeadLetterDetail.model_validate(
        {
            **_item(letter),
            "webhook_received_at": letter.webhook_received_at,
            "replayed_at": letter.replayed_at,
            # The body as stored, decoded, never re-serialised (Meta's \\u escapes stay).
            "payload": None
            if detail.body is None
            else detail.body.decode("utf-8", errors="replace"),
            "value": detail.value,
            "history": [
                DeadLetterDeath(
                    id=old.id,
                    dead_at=old.dead_at,
                    replayed_at=old.replayed_at,
                    reason=old.reason,
                    error=old.error,
                    attempts=old.attempts,
                )
                for old in detail.history
            ],
        }
    )


async def replay_dead_letter(call: ApiCall[DeadLetterParams, None]) -> ReplayAnswer:
    context = call.context
    dead_letter_id = call.params.dead_letter_id
    actor = actor_of(call.principal)
    wait = context.replay_throttle.acquire()
    if wait:
        raise TooManyRequests(
            f"at most {context.replay_throttle.rate:g} replays per second",
            retry_after=math.ceil(wait),
        )
    broker = context.broker

    def replay(conn: Conn) -> ReplayReport:
        letters = dead_letters.select_dead_letters(conn, [dead_letter_id])
        # No broker (tests, or one not configured): the relay delivers the reset row.
        enqueuer = ReplayEnqueuer(lambda: broker) if broker is not None else None
        return dead_letters.replay_dead_letters(
            conn,
            letters,
            actor=actor,
            lease_seconds=context.settings.relay_lease_seconds,
            enqueuer=enqueuer,
        )

    try:
        report = await context.run(replay)
    except DeadLetterNotFound:
        raise NotFound from None
    (result,) = report.results
    if result.status is ReplayStatus.NOT_FOUND:  # purged between the lookup and the replay
        raise NotFound
    if result.status is ReplayStatus.NOT_REPLAYABLE:
        raise Conflict(result.detail)
    status: Literal["replayed", "already_replayed"] = (
        "replayed" if result.status is ReplayStatus.REPLAYED else "already_replayed"
    )
    return ReplayAnswer(
        replayed=report.replayed,
        skipped=report.skipped,
        results=[ReplayedItem(id=result.dead_letter_id, status=status)],
    )
