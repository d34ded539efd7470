"""``wapipe webhooks list|show`` against the real database (SPEC §10, §16)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg

from tests.builders import envelope, text_message, wire_bytes
from tests.integration.cli.conftest import Pipeline
from workers.handlers import HandlerRegistry
from workers.processing import Attempt


def test_list_json_gives_id_received_at_public_status_and_the_event_count(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    batched = envelope(("made_up_field", {"n": 1}), ("made_up_field", {"n": 2}))
    processed = pipeline.store(batched)
    for event_id in pipeline.split(processed):
        assert pipeline.process(event_id, HandlerRegistry()) is Attempt.DONE  # ignored
    dead, _, _ = pipeline.dead_event(text_message())
    split_pending = pipeline.store(text_message())
    pipeline.split(split_pending)
    received = pipeline.store(text_message())
    unparseable, _ = pipeline.dead_webhook(b"not json")

    result = run_cli("webhooks", "list", "--json")

    assert result.code == 0
    items = json.loads(result.out)
    assert all(set(item) == {"id", "received_at", "status", "events"} for item in items)
    assert [(item["id"], item["status"], item["events"]) for item in items] == [
        (unparseable, "dead", 0),
        (received, "pending", 0),
        (split_pending, "pending", 1),
        (dead, "dead", 1),
        (processed, "processed", 2),
    ]
    assert all(type(item["events"]) is int for item in items)
    assert all(datetime.fromisoformat(item["received_at"]).tzinfo for item in items)


def test_list_status_dead_shows_only_the_dead_webhooks(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    dead_event_webhook, _, _ = pipeline.dead_event(text_message())
    pipeline.store(text_message())
    unparseable, _ = pipeline.dead_webhook(b"\xff\xfe not utf-8")

    dead = json.loads(run_cli("webhooks", "list", "--status", "dead", "--json").out)
    pending = json.loads(run_cli("webhooks", "list", "--status", "pending", "--json").out)
    processed = json.loads(run_cli("webhooks", "list", "--status", "processed", "--json").out)

    assert [item["id"] for item in dead] == [unparseable, dead_event_webhook]
    assert {item["status"] for item in dead} == {"dead"}
    assert len(pending) == 1
    assert processed == []


def test_list_limit_keeps_the_newest_and_the_table_has_one_row_each(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    ids = [pipeline.store(text_message()) for _ in range(3)]

    limited = json.loads(run_cli("webhooks", "list", "--limit", "2", "--json").out)
    table = run_cli("webhooks", "list", "--limit", "0")

    assert [item["id"] for item in limited] == [ids[2], ids[1]]
    assert table.code == 0
    header, *rows = table.out.splitlines()
    assert header.split() == ["ID", "RECEIVED_AT", "STATUS", "EVENTS"]
    assert [row.split()[0] for row in rows] == [str(i) for i in reversed(ids)]


def test_show_json_gives_the_body_as_stored_and_the_events(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    body = wire_bytes(text_message("d\u00e9j\u00e0 vu / ok"))
    webhook_id, event_id, _ = pipeline.dead_event(body)

    result = run_cli("webhooks", "show", str(webhook_id), "--json")

    assert result.code == 0
    shown = json.loads(result.out)
    assert shown["body"] == body.decode("utf-8")
    assert shown["status"] == "dead"
    assert [(e["id"], e["status"]) for e in shown["events"]] == [(event_id, "dead")]


def test_show_of_an_unknown_id_exits_1_with_a_message_on_stderr(
    db: psycopg.Connection[Any], run_cli: Any
):
    result = run_cli("webhooks", "show", "987654")
    assert result.code == 1
    assert result.out == ""
    assert "no webhook with id 987654" in result.err
