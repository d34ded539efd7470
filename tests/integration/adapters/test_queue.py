"""Enqueueing by name on the real brokers: Redis, and RabbitMQ when the URL says amqp://."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from redis.backoff import NoBackoff
from redis.retry import Retry

from adapters.queue import (
    EVENTS_QUEUE,
    PROCESS_ACTOR,
    SPLIT_ACTOR,
    WEBHOOKS_QUEUE,
    close_broker,
    create_broker,
    enqueue_events,
    enqueue_webhooks,
    ping_broker,
)
from domain.errors import DependencyUnavailable

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def consume_one(broker: dramatiq.Broker, queue: str) -> dramatiq.MessageProxy:
    consumer = broker.consume(queue, prefetch=1, timeout=2000)
    try:
        for message in consumer:
            if message is not None:
                consumer.ack(message)
                return message
        raise AssertionError("no message")
    finally:
        consumer.close()


@pytest.fixture
def redis_broker(redis_url: str, namespace: str) -> Iterator[dramatiq.Broker]:
    broker = create_broker(redis_url, namespace=namespace)
    yield broker
    broker.close()


def test_a_webhook_wake_up_reaches_the_split_actor_queue_on_redis(redis_broker: dramatiq.Broker):
    assert enqueue_webhooks(redis_broker, [41, 42]) == 2
    first = consume_one(redis_broker, WEBHOOKS_QUEUE)
    assert (first.actor_name, first.args) == (SPLIT_ACTOR, (41,))


def test_an_event_wake_up_reaches_the_process_actor_queue_on_redis(redis_broker: dramatiq.Broker):
    enqueue_events(redis_broker, [7])
    message = consume_one(redis_broker, EVENTS_QUEUE)
    assert (message.actor_name, message.args) == (PROCESS_ACTOR, (7,))
    assert ping_broker(redis_broker, "redis://")


def test_rabbitmq_is_selected_by_an_amqp_url_and_carries_the_same_messages():
    broker = create_broker(
        os.environ.get("WAPIPE_TEST_RABBITMQ_URL", RABBITMQ_URL), namespace="ignored-by-rabbitmq"
    )
    try:
        assert type(broker).__name__ == "RabbitmqBroker"
        broker.flush(WEBHOOKS_QUEUE)
        enqueue_webhooks(broker, [99])
        message = consume_one(broker, WEBHOOKS_QUEUE)
        assert (message.actor_name, message.args) == (SPLIT_ACTOR, (99,))
        assert ping_broker(broker, RABBITMQ_URL)
    finally:
        broker.close()


def test_a_broker_that_does_not_answer_is_reported_unavailable(namespace: str):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = create_broker(f"redis://127.0.0.1:{port}/0", namespace=namespace)
    try:
        with pytest.raises(DependencyUnavailable, match="broker") as raised:
            enqueue_webhooks(broker, [1, 2])
        assert isinstance(raised.value.__cause__, redis.ConnectionError)
        assert not ping_broker(broker, f"redis://127.0.0.1:{port}/0")
    finally:
        broker.close()


def test_a_broker_that_accepts_but_never_answers_times_out_as_unavailable(namespace: str):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever reads or answers
        host, port = silent.getsockname()
        # create_broker's client retries timeouts with backoff (seconds); one short attempt
        # raises the same redis.TimeoutError.
        client = redis.Redis(
            host=host,
            port=port,
            socket_timeout=0.2,
            socket_connect_timeout=0.2,
            retry=Retry(NoBackoff(), 0),
        )
        broker = RedisBroker(client=client, namespace=namespace, middleware=[])
        broker.declare_queue(WEBHOOKS_QUEUE)
        try:
            with pytest.raises(DependencyUnavailable, match="broker: TimeoutError") as raised:
                enqueue_webhooks(broker, [1])
            assert isinstance(raised.value.__cause__, redis.TimeoutError)
        finally:
            close_broker(broker)


def test_a_message_the_broker_cannot_encode_is_a_bug_and_propagates_as_itself(
    redis_broker: dramatiq.Broker, redis_url: str, namespace: str
):
    unencodable: list[Any] = [{1, 2}]  # a set has no JSON form
    with pytest.raises(TypeError, match="not JSON serializable"):
        enqueue_webhooks(redis_broker, unencodable)
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.llen(f"{namespace}:{WEBHOOKS_QUEUE}") == 0
    finally:
        client.close()
