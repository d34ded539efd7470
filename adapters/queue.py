"""Broker I/O by name: the ingress and the relay enqueue without importing actor code.

Messages carry only ids (``{webhook_id}`` / ``{event_id}``); Postgres holds the data. A lost
message delays work and never loses it: the relay re-enqueues whatever stays non-terminal.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import ConnectionClosed, ConnectionFailed

from domain.errors import DependencyUnavailable

WEBHOOKS_QUEUE = "wapipe.webhooks"
EVENTS_QUEUE = "wapipe.events"
SPLIT_ACTOR = "split_webhook"
#: One message for a whole ingest batch: a batch costs one broker call, not one per webhook.
SPLIT_BATCH_ACTOR = "split_webhooks"
PROCESS_ACTOR = "process_event"

DEFAULT_SOCKET_TIMEOUT_S = 2.0

# What ``broker.enqueue`` raises when the broker itself is unreachable or refusing writes, by
# type (see dramatiq/brokers/redis.py and rabbitmq.py). Anything else is a bug or a message
# the broker cannot take, and must surface as itself rather than pass for an outage.
BROKER_DOWN_ERRORS: tuple[type[Exception], ...] = (
    # Redis: connection failures (also BusyLoadingError while a restart loads its dataset,
    # AuthenticationError, MaxConnectionsError) and socket timeouts.
    redis.ConnectionError,
    redis.TimeoutError,
    # Redis refusing writes: a failed-over primary that is now a replica, or maxmemory hit.
    redis.ReadOnlyError,
    redis.OutOfMemoryError,
    # RabbitMQ: dramatiq wraps pika's AMQPConnectionError / AMQPChannelError in these.
    ConnectionClosed,
    ConnectionFailed,
    # Socket errors that reach us unwrapped (refused, reset, unreachable, DNS).
    OSError,
)


def create_broker(
    url: str, *, namespace: str, middleware: list[dramatiq.Middleware] | None = None
) -> dramatiq.Broker:
    """A Redis (``redis://``, ``unix://``) or RabbitMQ (``amqp://``) broker with both queues."""
    broker: dramatiq.Broker
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, middleware=middleware)
    else:
        client = redis.Redis.from_url(
            url,
            socket_timeout=DEFAULT_SOCKET_TIMEOUT_S,
            socket_connect_timeout=DEFAULT_SOCKET_TIMEOUT_S,
            health_check_interval=30,
        )
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            client=client, namespace=namespace, middleware=middleware
        )
    for queue_name in (WEBHOOKS_QUEUE, EVENTS_QUEUE):
        broker.declare_queue(queue_name)
    return broker


def close_broker(broker: dramatiq.Broker) -> None:
    broker.close()
    if isinstance(broker, RedisBroker):
        broker.client.close()  # RedisBroker.close() leaves its connection pool open


def _message(queue_name: str, actor_name: str, item_id: int) -> dramatiq.Message[None]:
    # The same shape ``actor.message(item_id)`` builds (dramatiq/message.py).
    return dramatiq.Message(
        queue_name=queue_name, actor_name=actor_name, args=(item_id,), kwargs={}, options={}
    )


def enqueue_ids(
    broker: dramatiq.Broker,
    queue_name: str,
    actor_name: str,
    ids: Iterable[int],
    *,
    delay_ms: int | None = None,
) -> int:
    """Enqueue one message per id (due in ``delay_ms``); stop at the first broker failure.

    Returns how many were enqueued.

    Raises:
        DependencyUnavailable: the broker is unreachable, timed out or refuses writes (one of
            ``BROKER_DOWN_ERRORS``); the rest are left to the relay.
        Exception: anything else ``broker.enqueue`` raises (a bug, a message that cannot be
            encoded) propagates unchanged.
    """
    sent = 0
    for item_id in ids:
        try:
            broker.enqueue(_message(queue_name, actor_name, item_id), delay=delay_ms)
        except BROKER_DOWN_ERRORS as error:
            raise DependencyUnavailable(f"broker: {type(error).__name__}") from error
        sent += 1
    return sent


def enqueue_webhooks(broker: dramatiq.Broker, webhook_ids: Iterable[int]) -> int:
    return enqueue_ids(broker, WEBHOOKS_QUEUE, SPLIT_ACTOR, webhook_ids)


def enqueue_webhook_batch(broker: dramatiq.Broker, webhook_ids: Sequence[int]) -> int:
    """Wake the workers for a committed ingest batch with one message (one for a lone webhook,
    as ``enqueue_webhooks`` sends); how many webhooks it names.

    Raises:
        DependencyUnavailable: the broker is down; the relay enqueues them after the lease.
    """
    if len(webhook_ids) <= 1:
        return enqueue_webhooks(broker, webhook_ids)
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name=WEBHOOKS_QUEUE,
        actor_name=SPLIT_BATCH_ACTOR,
        args=(list(webhook_ids),),
        kwargs={},
        options={},
    )
    try:
        broker.enqueue(message)
    except BROKER_DOWN_ERRORS as error:
        raise DependencyUnavailable(f"broker: {type(error).__name__}") from error
    return len(webhook_ids)


def enqueue_events(
    broker: dramatiq.Broker, event_ids: Iterable[int], *, delay_ms: int | None = None
) -> int:
    return enqueue_ids(broker, EVENTS_QUEUE, PROCESS_ACTOR, event_ids, delay_ms=delay_ms)


def ping_broker(broker: dramatiq.Broker, url: str) -> bool:
    """True when the broker answers (Redis PING; a TCP connect for RabbitMQ)."""
    if isinstance(broker, RedisBroker):
        try:
            return bool(broker.client.ping())
        except (redis.RedisError, OSError):
            return False
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "localhost", parts.port or 5672), timeout=1
        ):
            return True
    except OSError:
        return False
