"""``wapipe dlq list|show|replay|purge`` against the real database and Redis (SPEC §10, §16)."""

from __future__ import annotations

import datetime as dt
import json
import re
from datetime import datetime
from typing import Any

import psycopg
import pytest

from adapters.queue import EVENTS_QUEUE, WEBHOOKS_QUEUE
from adapters.retention import drop_expired_partitions
from adapters.webhook_log import RawWebhook
from bench.procs import free_port
from cli import dlq
from cli.main import build_parser, main
from tests.builders import envelope, partner_added, text_message, wire_bytes
from tests.effects import effects_per_event
from tests.integration.cli.conftest import Pipeline, record_effect
from workers.handlers import HandlerRegistry
from workers.processing import Attempt

LIST_KEYS = {"id", "webhook_id", "event_id", "field", "reason", "error", "attempts", "dead_at"}


def set_dead_at(db: psycopg.Connection[Any], dead_letter_id: int, age: str) -> None:
    """Backdate a dead letter (``age`` is a Postgres interval such as ``'3 hours'``)."""
    db.execute(
        "UPDATE dead_letter SET dead_at = now() - %s::interval WHERE id = %s",
        (age, dead_letter_id),
    )


def event_row(db: psycopg.Connection[Any], event_id: int) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT status, attempts, claim_token, next_attempt_at, finished_at, last_error,"
        " due_at > now() FROM event WHERE id = %s",
        (event_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def webhook_row(db: psycopg.Connection[Any], webhook_id: int) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT status, events_total, events_open, events_dead, finished_at IS NULL"
        " FROM webhook_log WHERE id = %s",
        (webhook_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def open_ids(db: psycopg.Connection[Any]) -> list[int]:
    return [
        r[0] for r in db.execute("SELECT id FROM dead_letter WHERE replayed_at IS NULL ORDER BY id")
    ]


# --- list ----------------------------------------------------------------------------------


def test_list_json_prints_only_open_dead_letters_newest_first_in_the_contract_shape(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    webhook_a, event_a, oldest = pipeline.dead_event(text_message())
    _, _, middle = pipeline.dead_event(partner_added())
    _, _, newest = pipeline.dead_event(text_message())
    webhook_u, unparseable = pipeline.dead_webhook(b"not json at all")
    set_dead_at(db, oldest, "4 hours")
    set_dead_at(db, middle, "3 hours")
    set_dead_at(db, newest, "2 hours")
    set_dead_at(db, unparseable, "1 hour")
    assert run_cli("dlq", "replay", str(middle)).code == 0

    result = run_cli("dlq", "list", "--json")

    assert result.code == 0
    items = json.loads(result.out)  # stdout is one JSON document and nothing else
    assert [item["id"] for item in items] == [unparseable, newest, oldest]
    assert all(set(item) == LIST_KEYS for item in items)
    assert items[2] == {
        "id": oldest,
        "webhook_id": webhook_a,
        "event_id": event_a,
        "field": "messages",
        "reason": "invalid_change",
        "error": f"cannot handle event {event_a}",
        "attempts": 1,
        "dead_at": items[2]["dead_at"],
    }
    assert datetime.fromisoformat(items[2]["dead_at"]).tzinfo is not None
    assert items[0]["webhook_id"] == webhook_u
    assert items[0]["event_id"] is None
    assert items[0]["field"] is None
    assert items[0]["reason"] == "unparseable"


def test_list_filters_by_field_reason_and_since(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    _, _, message_old = pipeline.dead_event(text_message())
    _, _, account = pipeline.dead_event(partner_added())
    _, _, message_new = pipeline.dead_event(text_message())
    _, unparseable = pipeline.dead_webhook(b"<html>not a webhook</html>")
    set_dead_at(db, message_old, "3 days")

    def listed(*options: str) -> list[int]:
        result = run_cli("dlq", "list", "--json", *options)
        assert result.code == 0
        return [item["id"] for item in json.loads(result.out)]

    assert sorted(listed("--field", "messages")) == sorted([message_old, message_new])
    assert listed("--field", "account_update") == [account]
    assert listed("--reason", "unparseable") == [unparseable]
    assert sorted(listed("--reason", "invalid_change", "--since", "1d")) == sorted(
        [account, message_new]
    )
    assert listed("--field", "messages", "--since", "2h") == [message_new]
    assert listed("--field", "nothing_died_here") == []


def test_list_limit_keeps_the_newest_and_zero_means_no_limit(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    letters = [pipeline.dead_event(text_message())[2] for _ in range(3)]
    for letter, age in zip(letters, ("3 hours", "1 hour", "2 hours"), strict=True):
        set_dead_at(db, letter, age)

    two = json.loads(run_cli("dlq", "list", "--json", "--limit", "2").out)
    every = json.loads(run_cli("dlq", "list", "--json", "--limit", "0").out)

    assert [item["id"] for item in two] == [letters[1], letters[2]]
    assert [item["id"] for item in every] == [letters[1], letters[2], letters[0]]


def test_list_without_json_prints_a_table_with_one_row_per_dead_letter(
    pipeline: Pipeline, run_cli: Any
):
    _, event_id, letter = pipeline.dead_event(text_message())

    result = run_cli("dlq", "list")

    assert result.code == 0
    header, row = result.out.splitlines()
    assert header.split()[:4] == ["ID", "DEAD_AT", "WEBHOOK_ID", "EVENT_ID"]
    assert row.split()[0] == str(letter)
    assert f"cannot handle event {event_id}" in row


def test_an_empty_list_is_an_empty_json_array(db: psycopg.Connection[Any], run_cli: Any):
    result = run_cli("dlq", "list", "--json")
    assert (result.code, result.out) == (0, "[]\n")


@pytest.mark.parametrize(
    "argv",
    [
        ["dlq", "list", "--limit", "-1"],
        ["dlq", "list", "--since", "yesterday-ish"],
        ["dlq", "show", "abc"],
        ["dlq", "show", "0"],
        ["dlq", "replay", "12x"],
        ["dlq", "replay", "--all", "--rate", "fast"],
        ["dlq", "purge", "--older-than", "30"],
        ["dlq", "purge"],
        ["dlq"],
    ],
)
def test_arguments_of_the_wrong_form_are_usage_errors(
    argv: list[str], environ: dict[str, str], capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(SystemExit) as exit_info:
        main(argv, environ)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_a_missing_database_url_exits_1_naming_the_variable(run_cli: Any):
    result = run_cli("dlq", "list", env={"WAPIPE_NAMESPACE": "unused"})
    assert result.code == 1
    assert "WAPIPE_DATABASE_URL" in result.err
    assert result.out == ""


# --- show ----------------------------------------------------------------------------------


def test_show_json_carries_the_raw_body_exactly_as_stored_and_the_change_value(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    payload = text_message("caf\u00e9 \U0001f600 a/b")
    body = wire_bytes(payload)
    assert b"\\u00e9" in body
    assert b"\\/" in body  # Meta's escapes, which a re-serialisation would lose
    webhook_id, event_id, letter = pipeline.dead_event(body)

    result = run_cli("dlq", "show", str(letter), "--json")

    assert result.code == 0
    shown = json.loads(result.out)
    assert shown["payload"] == body.decode("utf-8")
    assert shown["value"] == payload["entry"][0]["changes"][0]["value"]
    assert shown["id"] == letter
    assert shown["webhook_id"] == webhook_id
    assert shown["event_id"] == event_id
    assert shown["error"] == f"cannot handle event {event_id}"
    assert shown["attempts"] == 1
    assert shown["replayed_at"] is None
    assert [h["id"] for h in shown["history"]] == [letter]


def test_show_prints_the_body_verbatim_for_people(pipeline: Pipeline, run_cli: Any):
    body = wire_bytes(text_message("na\u00efve / caf\u00e9"))
    _, _, letter = pipeline.dead_event(body)

    result = run_cli("dlq", "show", str(letter))

    assert result.code == 0
    assert body.decode("utf-8") + "\n" in result.out
    assert "invalid_change" in result.out


def test_show_of_an_unparseable_webhook_shows_its_bytes_and_no_change_value(
    pipeline: Pipeline, run_cli: Any
):
    _, letter = pipeline.dead_webhook(b'{"object": "page", "entry": []}')

    shown = json.loads(run_cli("dlq", "show", str(letter), "--json").out)

    assert shown["payload"] == '{"object": "page", "entry": []}'
    assert shown["value"] is None
    assert shown["event_id"] is None
    assert shown["reason"] == "unparseable"


def test_show_history_lists_every_death_of_the_event_oldest_first_after_a_replay(
    pipeline: Pipeline, run_cli: Any
):
    _, event_id, first = pipeline.dead_event(text_message())
    _, _, other = pipeline.dead_event(text_message())  # another event: not in the history
    assert run_cli("dlq", "replay", str(first)).code == 0
    second = pipeline.kill(event_id)

    shown = json.loads(run_cli("dlq", "show", str(second), "--json").out)
    old = json.loads(run_cli("dlq", "show", str(first), "--json").out)

    assert second != first
    assert [h["id"] for h in shown["history"]] == [first, second]
    assert shown["history"][0]["replayed_at"] is not None
    assert shown["history"][1]["replayed_at"] is None
    assert shown["history"][0]["dead_at"] <= shown["history"][1]["dead_at"]
    assert old["replayed_at"] is not None
    assert old["history"] == shown["history"]
    assert other not in [h["id"] for h in shown["history"]]


def test_show_of_an_unknown_id_exits_1_with_a_message_on_stderr(
    db: psycopg.Connection[Any], run_cli: Any
):
    result = run_cli("dlq", "show", "424242", "--json")
    assert result.code == 1
    assert result.out == ""
    assert "no dead letter with id 424242" in result.err


# --- replay --------------------------------------------------------------------------------


def test_replaying_an_event_dead_letter_resets_the_event_fixes_the_webhook_and_enqueues_it(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any, broker_queue: Any
):
    webhook_id, event_id, letter = pipeline.dead_event(text_message())
    body_before = db.execute("SELECT body FROM webhook_log WHERE id = %s", (webhook_id,)).fetchone()
    assert webhook_row(db, webhook_id) == ("dead", 1, 0, 1, False)

    result = run_cli("dlq", "replay", str(letter), "--json")

    assert result.code == 0
    assert json.loads(result.out) == {"replayed": 1}
    assert event_row(db, event_id) == (
        "pending",
        0,
        None,
        None,
        None,
        f"cannot handle event {event_id}",  # kept: why it died before
        True,
    )
    assert webhook_row(db, webhook_id) == ("split", 1, 1, 0, True)
    assert open_ids(db) == []
    assert broker_queue(EVENTS_QUEUE) == [event_id]
    assert broker_queue(WEBHOOKS_QUEUE) == []
    body_after = db.execute("SELECT body FROM webhook_log WHERE id = %s", (webhook_id,)).fetchone()
    assert body_after == body_before


def test_a_replayed_event_whose_cause_was_fixed_is_processed_exactly_once(
    pipeline: Pipeline,
    db: psycopg.Connection[Any],
    run_cli: Any,
    broker_queue: Any,
):
    webhook_id, event_id, letter = pipeline.dead_event(text_message())
    assert run_cli("dlq", "replay", str(letter)).code == 0
    fixed = HandlerRegistry({"messages": record_effect})

    # The CLI's message, then a duplicate (the relay after the lease, a second replay).
    (queued,) = broker_queue(EVENTS_QUEUE)
    assert pipeline.process(queued, fixed) is Attempt.DONE
    assert pipeline.process(queued, fixed) is Attempt.SKIPPED

    assert effects_per_event(db) == {event_id: 1}
    assert event_row(db, event_id)[:2] == ("processed", 1)
    assert webhook_row(db, webhook_id) == ("processed", 1, 0, 0, False)
    assert open_ids(db) == []


def test_replaying_twice_replays_once(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any, broker_queue: Any
):
    webhook_id, event_id, letter = pipeline.dead_event(text_message())

    first = run_cli("dlq", "replay", str(letter), "--json")
    second = run_cli("dlq", "replay", str(letter), "--json")
    human = run_cli("dlq", "replay", str(letter))

    assert (first.code, json.loads(first.out)) == (0, {"replayed": 1})
    assert (second.code, json.loads(second.out)) == (0, {"replayed": 0})
    assert f"skipped dead letter {letter}: already replayed" in second.err
    assert human.code == 0
    assert f"skipped dead letter {letter}: already replayed" in human.out
    assert webhook_row(db, webhook_id) == ("split", 1, 1, 0, True)  # counters moved once
    assert broker_queue(EVENTS_QUEUE) == [event_id]


def test_replaying_one_of_two_dead_events_leaves_the_webhook_dead_until_the_other_is_replayed(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    batched = envelope(("messages", {"n": 1}), ("statuses_like", {"n": 2}))
    webhook_id = pipeline.store(batched)
    first_event, second_event = pipeline.split(webhook_id)
    first = pipeline.kill(first_event)
    second = pipeline.kill(second_event)
    assert webhook_row(db, webhook_id) == ("dead", 2, 0, 2, False)

    assert run_cli("dlq", "replay", str(first)).code == 0
    assert webhook_row(db, webhook_id) == ("dead", 2, 1, 1, True)

    result = run_cli("dlq", "replay", str(second))
    assert result.code == 0
    assert webhook_row(db, webhook_id) == ("split", 2, 2, 0, True)
    assert f"replayed dead letter {second}: event {second_event} (statuses_like)" in result.out
    assert "replayed 1 dead letter(s), skipped 0, failed 0; enqueued 1" in result.out


def test_replaying_several_ids_with_one_already_replayed_skips_it_and_exits_0(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any, broker_queue: Any
):
    _, event_a, letter_a = pipeline.dead_event(text_message())
    _, event_b, letter_b = pipeline.dead_event(text_message())
    assert run_cli("dlq", "replay", str(letter_a)).code == 0

    result = run_cli("dlq", "replay", str(letter_a), str(letter_b), "--json")

    assert (result.code, json.loads(result.out)) == (0, {"replayed": 1})
    assert broker_queue(EVENTS_QUEUE) == [event_a, event_b]
    assert open_ids(db) == []


def test_replaying_an_unknown_id_exits_1_and_replays_none_of_the_others(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any, broker_queue: Any
):
    _, event_id, letter = pipeline.dead_event(text_message())

    result = run_cli("dlq", "replay", str(letter), "999999")

    assert result.code == 1
    assert "no dead letter with id 999999" in result.err
    assert result.out == ""
    assert open_ids(db) == [letter]
    assert event_row(db, event_id)[0] == "dead"
    assert broker_queue(EVENTS_QUEUE) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dlq", "replay", "1", "--all"], "not both"),
        (["dlq", "replay"], "give dead letter ids, or --all"),
        (["dlq", "replay", "1", "--field", "messages"], "for --all"),
    ],
)
def test_replay_needs_either_ids_or_all_with_its_filters(
    argv: list[str],
    message: str,
    environ: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    db: psycopg.Connection[Any],
):
    with pytest.raises(SystemExit) as exit_info:
        main(argv, environ)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_replay_all_with_field_and_dry_run_lists_the_ids_and_changes_nothing(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any, broker_queue: Any
):
    _, _, message_a = pipeline.dead_event(text_message())
    _, account_event, account = pipeline.dead_event(partner_added())
    _, _, message_b = pipeline.dead_event(text_message())
    pipeline.dead_webhook(b"garbage")
    set_dead_at(db, message_b, "2 hours")
    before = db.execute("SELECT * FROM dead_letter ORDER BY id").fetchall()
    events_before = db.execute("SELECT * FROM event ORDER BY id").fetchall()
    webhooks_before = db.execute("SELECT * FROM webhook_log ORDER BY id").fetchall()

    result = run_cli("dlq", "replay", "--all", "--field", "messages", "--dry-run", "--json")
    human = run_cli("dlq", "replay", "--all", "--field", "account_update", "--dry-run")

    assert result.code == 0
    assert json.loads(result.out) == {
        "replayed": 0,
        "would_replay": 2,
        "ids": [message_b, message_a],  # replay order: oldest death first
    }
    assert human.code == 0
    assert f"would replay dead letter {account}: event {account_event}" in human.out
    assert "would replay 1 dead letter(s); nothing changed" in human.out
    assert db.execute("SELECT * FROM dead_letter ORDER BY id").fetchall() == before
    assert db.execute("SELECT * FROM event ORDER BY id").fetchall() == events_before
    assert db.execute("SELECT * FROM webhook_log ORDER BY id").fetchall() == webhooks_before
    assert broker_queue(EVENTS_QUEUE) == []


def test_replay_all_replays_only_the_matching_ones_paced_with_progress_on_stderr(
    pipeline: Pipeline,
    environ: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    broker_queue: Any,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(dlq, "PROGRESS_EVERY", 2)
    killed = [pipeline.dead_event(text_message()) for _ in range(3)]
    _, _, account = pipeline.dead_event(partner_added())
    _, unparseable = pipeline.dead_webhook(b"garbage")
    args = build_parser().parse_args(
        ["dlq", "replay", "--all", "--field", "messages", "--rate", "4", "--json"]
    )
    pauses: list[float] = []
    capsys.readouterr()

    code = dlq.run_replay(args, environ, sleep=pauses.append)

    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out) == {"replayed": 3}
    assert pauses == [0.25, 0.25]  # between enqueues, none after the last
    progress = [
        line for line in captured.err.splitlines() if re.fullmatch(r"replayed \d+/\d+", line)
    ]
    assert progress == ["replayed 2/3", "replayed 3/3"]
    assert broker_queue(EVENTS_QUEUE) == [event_id for _, event_id, _ in killed]
    assert open_ids(pipeline.db) == sorted([account, unparseable])


def test_replaying_an_unparseable_webhook_resets_it_to_received_with_its_body_untouched(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any, broker_queue: Any
):
    body = b'{"object":"whatsapp_business_account","entry":"\\u00e9 truncated'
    webhook_id, letter = pipeline.dead_webhook(body)
    digest_before = db.execute(
        "SELECT sha256, received_at FROM webhook_log WHERE id = %s", (webhook_id,)
    ).fetchone()

    result = run_cli("dlq", "replay", str(letter), "--json")

    assert (result.code, json.loads(result.out)) == (0, {"replayed": 1})
    row = db.execute(
        "SELECT status, split_attempts, finished_at, due_at > now(), body, sha256, received_at"
        " FROM webhook_log WHERE id = %s",
        (webhook_id,),
    ).fetchone()
    assert row is not None
    assert row[:4] == ("received", 0, None, True)
    assert bytes(row[4]) == body
    assert tuple(row[5:]) == tuple(digest_before or ())
    assert broker_queue(WEBHOOKS_QUEUE) == [webhook_id]
    assert open_ids(db) == []

    # The worker takes it again: still unparseable, so it dies again with a second letter.
    (queued,) = broker_queue(WEBHOOKS_QUEUE)
    assert pipeline.split(queued) == []
    shown = json.loads(run_cli("dlq", "list", "--json").out)
    assert [(item["webhook_id"], item["reason"]) for item in shown] == [(webhook_id, "unparseable")]
    assert shown[0]["id"] != letter
    history = json.loads(run_cli("dlq", "show", str(shown[0]["id"]), "--json").out)["history"]
    assert [h["id"] for h in history] == [letter, shown[0]["id"]]


def test_replay_while_the_broker_is_down_commits_the_reset_and_exits_0(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any, environ: dict[str, str]
):
    webhook_id, event_id, letter = pipeline.dead_event(text_message())
    broker_down = {**environ, "WAPIPE_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}

    result = run_cli("dlq", "replay", str(letter), "--json", env=broker_down)

    assert result.code == 0
    assert json.loads(result.out) == {"replayed": 1}
    assert "broker is unavailable" in result.err
    assert "relay" in result.err
    status, attempts, *_, due_later = event_row(db, event_id)
    assert (status, attempts, due_later) == ("pending", 0, True)
    assert webhook_row(db, webhook_id)[0] == "split"
    assert open_ids(db) == []


def test_replay_without_a_broker_url_fails_before_changing_anything(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any, environ: dict[str, str]
):
    _, _, letter = pipeline.dead_event(text_message())
    no_broker = {k: v for k, v in environ.items() if k != "WAPIPE_REDIS_URL"}

    result = run_cli("dlq", "replay", str(letter), env=no_broker)
    dry = run_cli("dlq", "replay", str(letter), "--dry-run", "--json", env=no_broker)

    assert result.code == 1
    assert "WAPIPE_BROKER_URL" in result.err
    assert open_ids(db) == [letter]
    assert (dry.code, json.loads(dry.out)["ids"]) == (0, [letter])


# --- purge ---------------------------------------------------------------------------------


def test_purge_without_yes_reports_the_count_deletes_nothing_and_exits_1(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    _, _, old = pipeline.dead_event(text_message())
    pipeline.dead_event(text_message())
    set_dead_at(db, old, "40 days")

    human = run_cli("dlq", "purge", "--older-than", "30d")
    scripted = run_cli("dlq", "purge", "--older-than", "30d", "--json")

    assert human.code == 1
    assert "1 dead letter(s)" in human.err
    assert "pass --yes to delete" in human.err
    assert scripted.code == 1
    assert json.loads(scripted.out) == {"purged": 0, "would_purge": 1}
    assert db.execute("SELECT count(*) FROM dead_letter").fetchone() == (2,)


def test_purge_with_yes_deletes_open_and_replayed_dead_letters_older_than_the_duration(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    _, _, old_open = pipeline.dead_event(text_message())
    _, _, old_replayed = pipeline.dead_event(text_message())
    _, _, recent = pipeline.dead_event(text_message())
    _, old_webhook = pipeline.dead_webhook(b"old garbage")
    assert run_cli("dlq", "replay", str(old_replayed)).code == 0
    for letter in (old_open, old_replayed, old_webhook):
        set_dead_at(db, letter, "31 days")

    result = run_cli("dlq", "purge", "--older-than", "30d", "--yes", "--json")
    again = run_cli("dlq", "purge", "--older-than", "30d", "--yes")

    assert (result.code, json.loads(result.out)) == (0, {"purged": 3})
    assert [r[0] for r in db.execute("SELECT id FROM dead_letter")] == [recent]
    assert again.code == 0
    assert again.out.startswith("purged 0 dead letter(s)")


def test_purge_works_through_more_than_one_batch(
    pipeline: Pipeline,
    db: psycopg.Connection[Any],
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(dlq, "PURGE_BATCH", 2)
    for _ in range(5):
        pipeline.dead_webhook(b"garbage " + wire_bytes(text_message()))
    db.execute("UPDATE dead_letter SET dead_at = now() - interval '8 days'")

    result = run_cli("dlq", "purge", "--older-than", "1w", "--yes", "--json")

    assert (result.code, json.loads(result.out)) == (0, {"purged": 5})
    assert "purged 5/5" in result.err
    assert db.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)


# --- after retention -----------------------------------------------------------------------


def test_a_dead_letter_whose_webhook_left_the_log_is_shown_but_not_replayed(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any, broker_queue: Any
):
    webhook_id, event_id, letter = pipeline.dead_event(text_message())
    db.execute("DELETE FROM webhook_log WHERE id = %s", (webhook_id,))  # as retention would

    shown = run_cli("dlq", "show", str(letter), "--json")
    human = run_cli("dlq", "show", str(letter))
    replay = run_cli("dlq", "replay", str(letter), "--json")

    assert (shown.code, json.loads(shown.out)["payload"]) == (0, None)
    assert "no longer in the log" in human.out
    assert replay.code == 1
    assert json.loads(replay.out) == {"replayed": 0}
    assert f"{letter}: the webhook of event {event_id} is no longer in the log" in replay.err
    # Nothing half-done: the dead letter is still open and the event still dead.
    assert open_ids(db) == [letter]
    assert event_row(db, event_id)[:2] == ("dead", 1)
    assert broker_queue(EVENTS_QUEUE) == []


def test_dropping_an_expired_partition_keeps_every_dead_lettered_webhook_readable_by_dlq_show(
    pipeline: Pipeline, db: psycopg.Connection[Any], run_cli: Any
):
    old_day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=40)
    db.execute("SELECT wapipe_ensure_webhook_log_partitions(%s, 1)", (old_day,))
    body = wire_bytes(text_message("caf\u00e9, 40 days ago"))
    raw = RawWebhook.of(body)
    row = db.execute(
        "INSERT INTO webhook_log (received_at, sha256, body, due_at)"
        " VALUES (%s, %s, %s, now()) RETURNING id",
        (dt.datetime.combine(old_day, dt.time(12), tzinfo=dt.UTC), raw.digest, raw.body),
    ).fetchone()
    assert row is not None
    webhook_id = int(row[0])
    (event_id,) = pipeline.split(webhook_id)
    letter = pipeline.kill(event_id)

    report = drop_expired_partitions(db, retention_days=30)

    assert f"webhook_log_p{old_day:%Y%m%d}" in [drop.partition for drop in report.dropped]
    in_log = db.execute("SELECT count(*) FROM webhook_log WHERE id = %s", (webhook_id,))
    assert in_log.fetchone() == (0,)
    shown = run_cli("dlq", "show", str(letter), "--json")
    human = run_cli("dlq", "show", str(letter))
    assert shown.code == 0
    assert json.loads(shown.out)["payload"] == body.decode("utf-8")  # Meta's bytes, verbatim
    assert human.code == 0
    assert body.decode("utf-8") + "\n" in human.out
    # Its replay cannot put the webhook back in the log: refused, and nothing changes.
    replay = run_cli("dlq", "replay", str(letter), "--json")
    assert replay.code == 1
    assert f"{letter}: the webhook of event {event_id} is no longer in the log" in replay.err
    assert open_ids(db) == [letter]


def test_replay_with_rate_zero_does_not_pause_between_enqueues(
    pipeline: Pipeline, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
):
    letters = [str(pipeline.dead_event(text_message())[2]) for _ in range(3)]
    args = build_parser().parse_args(["dlq", "replay", *letters, "--rate", "0", "--json"])
    pauses: list[float] = []

    assert dlq.run_replay(args, environ, sleep=pauses.append) == 0

    assert json.loads(capsys.readouterr().out) == {"replayed": 3}
    assert pauses == []
