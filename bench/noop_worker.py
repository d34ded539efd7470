"""Dramatiq's no-op baseline: ``python -m dramatiq bench.noop_worker --threads N``.

A plain ``RedisBroker`` with Dramatiq's default middleware and one actor that does nothing,
on the Redis URL and namespace in ``BENCH_REDIS_URL`` / ``BENCH_NAMESPACE``.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

NOOP_QUEUE = "bench.noop"
NOOP_ACTOR = "noop"

broker = RedisBroker(  # type: ignore[no-untyped-call]
    url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
    namespace=os.environ.get("BENCH_NAMESPACE", "wapipe-bench-noop"),
)
broker.declare_queue(NOOP_QUEUE)
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name=NOOP_ACTOR, queue_name=NOOP_QUEUE, broker=broker)
def noop(sequence: int) -> None:
    del sequence
