"""``enqueue_ids`` reports broker outages as ``DependencyUnavailable`` and nothing else (rule 8).

The broker is dramatiq's StubBroker made to raise what the real brokers raise: redis-py's
errors from ``RedisBroker.enqueue``, dramatiq's ``ConnectionClosed`` wrapping pika's from
``RabbitmqBroker.enqueue``, bare socket errors. No sockets are opened.
"""

from __future__ import annotations

from typing import Any

import pika.exceptions
import pytest
import redis
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ActorNotFound, ConnectionClosed, ConnectionFailed, QueueNotFound

from adapters.queue import (
    SPLIT_ACTOR,
    SPLIT_BATCH_ACTOR,
    WEBHOOKS_QUEUE,
    enqueue_ids,
    enqueue_webhook_batch,
    enqueue_webhooks,
)
from domain.errors import DependencyUnavailable


class BrokerThatFails(StubBroker):
    """Lets ``succeed`` messages through, then raises ``error`` on every enqueue."""

    def __init__(self, error: Exception, *, succeed: int = 0) -> None:
        super().__init__(middleware=[])
        self.declare_queue(WEBHOOKS_QUEUE)
        self.error = error
        self.succeed = succeed

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        if self.succeed == 0:
            raise self.error
        self.succeed -= 1
        return super().enqueue(message, delay=delay)

    def queued_ids(self) -> list[int]:
        return [
            int(Message.decode(data).args[0]) for data in list(self.queues[WEBHOOKS_QUEUE].queue)
        ]


OUTAGES = [
    redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    redis.TimeoutError("Timeout reading from socket"),
    redis.BusyLoadingError("Redis is loading the dataset in memory"),
    redis.ReadOnlyError("You can't write against a read only replica."),
    redis.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
    ConnectionClosed(pika.exceptions.StreamLostError("Stream connection lost")),
    ConnectionFailed("could not connect"),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError("timed out"),
]

BUGS = [
    RuntimeError("a bug"),
    TypeError("Object of type set is not JSON serializable"),
    redis.ResponseError("ERR Error running script: attempt to index a nil value"),
    ActorNotFound("split_webhook"),
]


def name_of(error: Exception) -> str:
    return type(error).__name__


@pytest.mark.parametrize("outage", OUTAGES, ids=name_of)
def test_a_broker_outage_becomes_dependency_unavailable_from_the_broker_error(
    outage: Exception,
):
    broker = BrokerThatFails(outage)
    with pytest.raises(DependencyUnavailable) as raised:
        enqueue_webhooks(broker, [1, 2])
    assert str(raised.value) == f"broker: {type(outage).__name__}"
    assert raised.value.__cause__ is outage


@pytest.mark.parametrize("bug", BUGS, ids=name_of)
def test_any_other_enqueue_error_propagates_as_itself(bug: Exception):
    broker = BrokerThatFails(bug)
    with pytest.raises(type(bug)) as raised:
        enqueue_webhooks(broker, [1, 2])
    assert raised.value is bug
    assert not isinstance(raised.value, DependencyUnavailable)


def test_a_queue_nobody_declared_is_a_bug_not_an_outage():
    broker = StubBroker(middleware=[])
    with pytest.raises(QueueNotFound):
        enqueue_ids(broker, "wapipe.undeclared", SPLIT_ACTOR, [1])


def test_enqueueing_stops_at_the_first_outage_and_leaves_the_rest_to_the_relay():
    broker = BrokerThatFails(redis.ConnectionError("Connection reset by peer"), succeed=2)
    with pytest.raises(DependencyUnavailable):
        enqueue_webhooks(broker, [11, 12, 13, 14])
    assert broker.queued_ids() == [11, 12]


def test_every_id_is_enqueued_when_the_broker_answers():
    broker = BrokerThatFails(RuntimeError("never raised"), succeed=3)
    assert enqueue_webhooks(broker, [21, 22, 23]) == 3
    assert broker.queued_ids() == [21, 22, 23]


def test_a_batch_is_one_message_naming_every_webhook():
    broker = BrokerThatFails(RuntimeError("unused"), succeed=1)

    assert enqueue_webhook_batch(broker, [5, 6, 7]) == 3

    (data,) = list(broker.queues[WEBHOOKS_QUEUE].queue)
    message = Message.decode(data)
    assert (message.actor_name, message.args) == (SPLIT_BATCH_ACTOR, ([5, 6, 7],))


def test_a_lone_webhook_keeps_the_one_id_message():
    broker = BrokerThatFails(RuntimeError("unused"), succeed=1)

    assert enqueue_webhook_batch(broker, [5]) == 1

    assert broker.queued_ids() == [5]
    (data,) = list(broker.queues[WEBHOOKS_QUEUE].queue)
    assert Message.decode(data).actor_name == SPLIT_ACTOR


@pytest.mark.parametrize("outage", OUTAGES, ids=lambda e: type(e).__name__)
def test_a_batch_the_broker_refuses_is_an_outage(outage: Exception):
    with pytest.raises(DependencyUnavailable):
        enqueue_webhook_batch(BrokerThatFails(outage), [1, 2])
