"""Every 200 means the exact body is committed, and its wake-up is on the broker (SPEC §5)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from adapters.queue import SPLIT_ACTOR, SPLIT_BATCH_ACTOR, WEBHOOKS_QUEUE
from tests.builders import mixed_payload, sign, text_message, wire_bytes
from tests.integration.ingress.harness import LogWatch, post_signed, running_ingress

pytestmark = pytest.mark.anyio

CONCURRENT_POSTS = 50


@pytest.fixture
def broker_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


def queued_messages(client: redis.Redis, namespace: str) -> list[dict[str, Any]]:
    """Messages waiting on the webhooks queue of the Redis broker (dramatiq's own layout:
    ids in the ``<ns>:<queue>`` list, bodies in the ``<ns>:<queue>.msgs`` hash)."""
    queue = f"{namespace}:{WEBHOOKS_QUEUE}"
    ids = client.lrange(queue, 0, -1)
    bodies = client.hmget(f"{queue}.msgs", ids) if ids else []
    messages = []
    for body in bodies:
        assert isinstance(body, bytes), "a queued id without its message"
        messages.append(json.loads(body))
    return messages


async def test_every_concurrent_200_is_committed_with_the_exact_bytes(ingress, log: LogWatch):
    bodies = [wire_bytes(mixed_payload(index)) for index in range(CONCURRENT_POSTS)]
    assert len(set(bodies)) == CONCURRENT_POSTS

    async def post(body: bytes) -> tuple[bytes, httpx.Response]:
        return body, await post_signed(ingress, body)

    ids = set()
    for answer in asyncio.as_completed([post(body) for body in bodies]):
        body, response = await answer
        assert response.status_code == 200
        assert response.json() == {"status": "accepted"}
        # Read back the moment the 200 arrives, while other posts are still in flight.
        row = log.row(body)
        assert row is not None, "answered 200 but not in the log"
        assert row.body == body
        assert row.sha256 == hashlib.sha256(body).digest()
        ids.add(row.id)
    assert len(ids) == CONCURRENT_POSTS
    assert log.added() == (CONCURRENT_POSTS, CONCURRENT_POSTS)


async def test_escapes_survive_storage_untouched(ingress, log: LogWatch):
    body = wire_bytes(text_message('\u00e9\u00e8 <a href="https://x.test/p"> @ % \U0001f44d'))
    assert b"\\ud83d\\udc4d" in body
    assert b"https:\\/\\/x.test\\/p" in body
    assert (await post_signed(ingress, body)).status_code == 200
    assert log.body(body) == body


async def test_concurrent_copies_of_one_body_store_it_once(ingress, log: LogWatch):
    body = wire_bytes(text_message())
    responses = await asyncio.gather(*(post_signed(ingress, body) for _ in range(8)))
    statuses = sorted(response.json()["status"] for response in responses)
    assert [response.status_code for response in responses] == [200] * 8
    assert statuses == ["accepted"] + ["duplicate"] * 7
    assert log.added() == (1, 1)


async def test_an_accepted_webhook_is_enqueued_for_splitting_by_id(
    ingress, log: LogWatch, broker_redis: redis.Redis, namespace: str
):
    body = wire_bytes(text_message())
    assert (await post_signed(ingress, body)).json() == {"status": "accepted"}
    row = log.row(body)
    assert row is not None

    [message] = queued_messages(broker_redis, namespace)
    assert message["queue_name"] == WEBHOOKS_QUEUE
    assert message["actor_name"] == SPLIT_ACTOR
    assert message["args"] == [row.id]

    # A duplicate delivery starts no new processing.
    assert (await post_signed(ingress, body)).json() == {"status": "duplicate"}
    assert len(queued_messages(broker_redis, namespace)) == 1


async def test_every_accepted_webhook_of_a_burst_gets_one_wake_up(
    ingress, log: LogWatch, broker_redis: redis.Redis, namespace: str
):
    bodies = [wire_bytes(text_message()) for _ in range(20)]
    await asyncio.gather(*(post_signed(ingress, body) for body in bodies))
    ids = []
    for body in bodies:
        row = log.row(body)
        assert row is not None
        ids.append(row.id)
    # One message per batch of the group commit: each id is named exactly once.
    messages = queued_messages(broker_redis, namespace)
    queued = sorted(
        webhook_id
        for message in messages
        for webhook_id in (
            message["args"][0]
            if message["actor_name"] == SPLIT_BATCH_ACTOR
            else [message["args"][0]]
        )
    )
    assert queued == sorted(ids)
    assert len(messages) <= len(ids)


async def test_the_client_address_and_kept_headers_are_stored_with_the_body(
    make_settings: Any, db: Any
):
    # Behind a trusted proxy, the address the limits count is the one X-Forwarded-For names.
    settings = make_settings(TRUSTED_PROXIES="203.0.113.0/24")
    body = wire_bytes(text_message())
    async with running_ingress(settings, peer=("203.0.113.10", 40000)) as client:
        answer = await post_signed(
            client,
            body,
            **{
                "User-Agent": "facebookexternalua",
                "X-Forwarded-For": "198.51.100.7",
                "X-Other": "x",
            },
        )
    assert answer.status_code == 200
    row = db.execute(
        "SELECT host(source_ip), headers FROM webhook_log WHERE sha256 = %s",
        (hashlib.sha256(body).digest(),),
    ).fetchone()
    assert row is not None
    source_ip, headers = row
    assert source_ip == "198.51.100.7"
    assert headers == {
        "content-type": "application/json",
        "user-agent": "facebookexternalua",
        "x-hub-signature-256": sign(body),
        "x-forwarded-for": "198.51.100.7",
    }
