"""Appending raw webhooks: exact bytes, digests, duplicates across batches and day boundaries."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import psycopg
import pytest

from adapters.webhook_log import RawWebhook, append_webhooks, load_webhook, mark_split
from tests.builders import text_message
from tests.storage import store_webhook_row


def append(database_url: str, bodies: list[bytes]) -> list[int | None]:
    async def run() -> list[int | None]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            ids = await append_webhooks(
                conn, [RawWebhook.of(b) for b in bodies], relay_lease_seconds=30
            )
            await conn.commit()
            return ids

    return asyncio.run(run())


def test_a_batch_stores_each_body_byte_for_byte_with_its_digest(
    db: psycopg.Connection[Any], database_url: str
):
    bodies = [b'{"a":"caf\\u00e9 \\/ x"}', b"\x00\xffnot even text"]
    ids = append(database_url, bodies)
    assert all(isinstance(i, int) for i in ids)
    rows = db.execute("SELECT id, body, sha256, status FROM webhook_log ORDER BY id").fetchall()
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (b, hashlib.sha256(b).digest(), "received") for b in bodies
    ]
    assert [r[0] for r in rows] == ids


def test_a_body_seen_before_is_a_duplicate_and_gets_no_row(
    db: psycopg.Connection[Any], database_url: str
):
    (first,) = append(database_url, [b"{}"])
    assert append(database_url, [b"{}", b"[]"])[0] is None
    assert db.execute("SELECT count(*) FROM webhook_log").fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM webhook_digest").fetchone() == (2,)
    assert first is not None


def test_copies_inside_one_batch_are_stored_once(db: psycopg.Connection[Any], database_url: str):
    ids = append(database_url, [b"same", b"other", b"same"])
    assert ids[0] is not None
    assert ids[1] is not None
    assert ids[2] is None
    assert db.execute("SELECT count(*) FROM webhook_log").fetchone() == (2,)


def test_a_duplicate_of_a_body_logged_yesterday_is_still_caught(
    db: psycopg.Connection[Any], database_url: str
):
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    (original,) = append(database_url, [body])
    # Move the original to yesterday's partition, as if it arrived just before midnight.
    db.execute(
        "UPDATE webhook_log SET received_at = received_at - interval '1 day' WHERE id = %s",
        (original,),
    )
    db.execute(
        "UPDATE webhook_digest SET received_at = received_at - interval '1 day'"
        " WHERE webhook_id = %s",
        (original,),
    )
    partition = db.execute(
        "SELECT tableoid::regclass::text FROM webhook_log WHERE id = %s", (original,)
    ).fetchone()
    today = db.execute(
        "SELECT 'webhook_log_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')"
    ).fetchone()
    assert partition != today
    assert append(database_url, [body]) == [None]
    assert db.execute("SELECT count(*) FROM webhook_log").fetchone() == (1,)


@pytest.mark.parametrize("size", [1, 64, 200])
def test_batches_of_any_size_return_one_answer_per_item_in_order(
    db: psycopg.Connection[Any], database_url: str, size: int
):
    bodies = [f'{{"n":{n}}}'.encode() for n in range(size)]
    ids = append(database_url, bodies)
    stored = dict(db.execute("SELECT id, body FROM webhook_log").fetchall())
    assert [stored[i] for i in ids if i is not None] == bodies


def test_only_one_of_two_splitters_marks_a_webhook_split(db: psycopg.Connection[Any]):
    """The split's guard: a second worker that parsed the same webhook finds it split and
    inserts nothing (its mark returns False), so no change becomes two events."""
    webhook = load_webhook(db, store_webhook_row(db, text_message()))
    assert webhook is not None

    first = mark_split(db, webhook.id, webhook.received_at, 1)
    second = mark_split(db, webhook.id, webhook.received_at, 1)

    assert (first, second) == (True, False)
    row = db.execute(
        "SELECT status, events_total, events_open FROM webhook_log WHERE id = %s", (webhook.id,)
    ).fetchone()
    assert row == ("split", 1, 1)
