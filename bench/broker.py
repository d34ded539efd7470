"""Dramatiq-on-Redis helpers of the benchmark: batched enqueue and queue progress.

``enqueue_pipelined`` sends a batch of messages in one Redis round trip. It runs Dramatiq's own
enqueue script once per message (inside a pipeline) with the enqueue middleware hooks around
it, so the messages are exactly what ``broker.enqueue`` writes. The benchmark uses it to
pre-fill the no-op baseline's queue, and ``--explain`` measures it as a candidate replacement
for the ingress's one-round-trip-per-message enqueue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis


def redis_message(queue_name: str, actor_name: str, args: tuple[Any, ...]) -> dramatiq.Message[Any]:
    """The message ``RedisBroker.enqueue`` would store (with its per-enqueue Redis id)."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
    )
    return message.copy(options={"redis_message_id": str(uuid4())})


def enqueue_pipelined(broker: RedisBroker, messages: Sequence[dramatiq.Message[Any]]) -> int:
    """Enqueue ``messages`` (built by ``redis_message``) in one round trip; how many."""
    if not messages:
        return 0
    for message in messages:
        broker.emit_before("enqueue", message, None)
    dispatch = broker.scripts["dispatch"]
    keys = [broker.namespace]
    max_unpack = broker._max_unpack_size()  # type: ignore[no-untyped-call]
    with broker.client.pipeline(transaction=False) as pipe:
        for message in messages:
            args = [
                "enqueue",
                current_millis(),
                message.queue_name,
                broker.broker_id,
                broker.heartbeat_timeout,
                broker.dead_message_ttl,
                broker._should_do_maintenance("enqueue"),
                max_unpack,
                message.options["redis_message_id"],
                message.encode(),
            ]
            dispatch(keys=keys, args=args, client=pipe)
        pipe.execute()
    for message in messages:
        broker.emit_after("enqueue", message, None)
    return len(messages)


def pending_messages(broker: RedisBroker, queue_name: str) -> int:
    """Messages of ``queue_name`` not acknowledged yet (queued, prefetched or running)."""
    return int(broker.client.hlen(f"{broker.namespace}:{queue_name}.msgs"))
