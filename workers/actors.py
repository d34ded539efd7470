"""The two actors. Thin: decode the message, call ``workers.processing``.

Dramatiq's own retries only see failures our code could not record (Postgres down while
recording an outcome); event retries are scheduled by ``processing`` with the Postgres
attempt counter as the authority, and raise ``dramatiq.Retry`` with the chosen delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dramatiq

from adapters.queue import (
    EVENTS_QUEUE,
    PROCESS_ACTOR,
    SPLIT_ACTOR,
    SPLIT_BATCH_ACTOR,
    WEBHOOKS_QUEUE,
)
from runtime.bootstrap import WorkerDeps
from workers import processing
from workers.handlers import HandlerRegistry

#: Dramatiq stops an attempt after this long (the attempt then counts as failed).
EVENT_TIME_LIMIT_MS = 120_000
#: Dramatiq-level retries only bound infrastructure failures; the Postgres counter decides
#: first, so this is a backstop a little above ``MAX_ATTEMPTS``.
BROKER_RETRY_MARGIN = 2


@dataclass(frozen=True)
class Actors:
    split_webhook: dramatiq.Actor[[int], None]
    split_webhooks: dramatiq.Actor[[list[int]], None]
    process_event: dramatiq.Actor[[int], None]


def register_actors(broker: dramatiq.Broker, deps: WorkerDeps, registry: HandlerRegistry) -> Actors:
    policy = deps.settings.retry
    options: dict[str, Any] = {
        "broker": broker,
        "max_retries": policy.max_attempts + BROKER_RETRY_MARGIN,
        "min_backoff": policy.min_backoff_ms,
        "max_backoff": policy.max_backoff_ms,
        "time_limit": EVENT_TIME_LIMIT_MS,
    }

    @dramatiq.actor(actor_name=SPLIT_ACTOR, queue_name=WEBHOOKS_QUEUE, **options)
    def split_webhook(webhook_id: int) -> None:
        processing.split_and_process(deps, registry, int(webhook_id))

    @dramatiq.actor(actor_name=SPLIT_BATCH_ACTOR, queue_name=WEBHOOKS_QUEUE, **options)
    def split_webhooks(webhook_ids: list[int]) -> None:
        # One ingest batch. Each split is idempotent, so a retry of the whole message after
        # a failure part-way redoes nothing that was done.
        for webhook_id in webhook_ids:
            processing.split_and_process(deps, registry, int(webhook_id))

    @dramatiq.actor(actor_name=PROCESS_ACTOR, queue_name=EVENTS_QUEUE, **options)
    def process_event(event_id: int) -> None:
        result = processing.process_event(deps, registry, int(event_id))
        if result.outcome is processing.Attempt.RETRY:
            raise dramatiq.Retry(delay=result.delay_ms)

    return Actors(
        split_webhook=split_webhook, split_webhooks=split_webhooks, process_event=process_event
    )
