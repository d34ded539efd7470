"""``/api/v1/admin/dead-letters``: the same list, show and replay as ``wapipe dlq`` (SPEC §8)."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker

from adapters.events import dead_letter_event, insert_job
from adapters.queue import EVENTS_QUEUE, WEBHOOKS_QUEUE
from cli.main import main
from runtime.bootstrap import WorkerDeps, build_worker_deps
from runtime.settings import Settings
from tests.conftest import settings_environ
from tests.integration.api.rows import admin_key, bearer, key_id_of, org_key
from tests.storage import store_webhook_row
from workers.processing import split_webhook

pytestmark = pytest.mark.anyio

LIST_KEYS = {"id", "webhook_id", "event_id", "field", "reason", "error", "attempts", "dead_at"}


def dead_job(
    db: psycopg.Connection[Any], waba_id: str = "1001", reason: str = "graph_rejected"
) -> tuple[int, int]:
    """A token check job that died as the worker kills it: (job id, dead letter id)."""
    job_id, _ = insert_job(
        db,
        field="token_check",
        key=f"token_check:{waba_id}",
        value={"waba_id": waba_id},
        lease_seconds=30,
    )
    assert dead_letter_event(db, job_id, reason=reason, error=f"{reason} for {waba_id}")
    row = db.execute(
        "SELECT id FROM dead_letter WHERE event_id = %s AND replayed_at IS NULL", (job_id,)
    ).fetchone()
    assert row is not None
    return job_id, int(row[0])


@pytest.fixture
def worker_deps(
    make_settings: Callable[..., Settings], db: psycopg.Connection[Any]
) -> Iterator[WorkerDeps]:
    broker = StubBroker(middleware=[])
    for queue in (WEBHOOKS_QUEUE, EVENTS_QUEUE):
        broker.declare_queue(queue)
    deps = build_worker_deps(make_settings(), broker=broker, draw=lambda: 0.0)
    deps.pool.wait(timeout=10)
    try:
        yield deps
    finally:
        deps.close()
        broker.close()


def dead_webhook(db: psycopg.Connection[Any], deps: WorkerDeps, body: bytes) -> tuple[int, int]:
    """A body the worker cannot split, dead-lettered by the worker: (webhook id, letter id)."""
    webhook_id = store_webhook_row(db, body)
    assert split_webhook(deps, webhook_id) == []
    row = db.execute(
        "SELECT id FROM dead_letter WHERE webhook_id = %s AND replayed_at IS NULL", (webhook_id,)
    ).fetchone()
    assert row is not None
    return webhook_id, int(row[0])


@pytest.fixture
def cli(
    database_url: str, redis_url: str, namespace: str, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """``cli("dlq", "list", "--json")``: the CLI in-process on the API's database and Redis."""
    environ = settings_environ(database_url, redis_url, namespace)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv), environ)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def audit_rows(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return [
        tuple(row) for row in db.execute("SELECT actor, action, subject FROM audit_log ORDER BY id")
    ]


def same_items(api_items: list[dict[str, Any]], cli_items: list[dict[str, Any]]) -> bool:
    def normal(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "dead_at": datetime.fromisoformat(item["dead_at"])}

    return [normal(i) for i in api_items] == [normal(i) for i in cli_items]


async def test_the_list_is_the_clis_list_json(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], cli: Any
):
    dead_job(db, "1001")
    dead_job(db, "1002", reason="undecryptable")

    response = await api.get("/api/v1/admin/dead-letters", headers=bearer(admin_key(db)))
    code, out, _ = cli("dlq", "list", "--json")

    assert response.status_code == 200
    items = response.json()
    assert [set(item) for item in items] == [LIST_KEYS, LIST_KEYS]
    assert [item["error"] for item in items] == [
        "undecryptable for 1002",
        "graph_rejected for 1001",
    ]
    assert code == 0
    assert same_items(items, json.loads(out))


async def test_the_list_filters_by_field_reason_since_and_limit(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    _, old = dead_job(db, "1001")
    _, middle = dead_job(db, "1002", reason="undecryptable")
    _, new = dead_job(db, "1003")
    db.execute("UPDATE dead_letter SET dead_at = now() - interval '3 hours' WHERE id = %s", (old,))
    key = admin_key(db)

    async def ids(**params: Any) -> list[int]:
        response = await api.get("/api/v1/admin/dead-letters", params=params, headers=bearer(key))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()]

    assert await ids(reason="graph_rejected") == [new, old]
    assert await ids(field="token_check", limit=1) == [new]
    assert await ids(field="messages") == []
    since = db.execute("SELECT (now() - interval '1 hour') AT TIME ZONE 'UTC'").fetchone()
    assert since is not None
    assert await ids(since=since[0].isoformat()) == [new, middle]  # no zone given: UTC


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "many"}, ["query", "limit"]),
        ({"since": "yesterday"}, ["query", "since"]),
        ({"status": "open"}, ["query", "status"]),
    ],
)
async def test_bad_list_parameters_are_422(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], params: dict[str, str], loc: list[str]
):
    response = await api.get(
        "/api/v1/admin/dead-letters", params=params, headers=bearer(admin_key(db))
    )
    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]] == [loc]


async def test_show_is_the_clis_show_json(
    api: httpx.AsyncClient, db: psycopg.Connection[Any], worker_deps: WorkerDeps, cli: Any
):
    body = b'{"object":"whatsapp_business_account","entry":"\\u00e9 truncated'
    webhook_id, letter = dead_webhook(db, worker_deps, body)
    job_id, job_letter = dead_job(db)
    key = admin_key(db)

    webhook = await api.get(f"/api/v1/admin/dead-letters/{letter}", headers=bearer(key))
    job = await api.get(f"/api/v1/admin/dead-letters/{job_letter}", headers=bearer(key))
    _, out, _ = cli("dlq", "show", str(letter), "--json")

    assert webhook.status_code == 200
    shown = webhook.json()
    assert shown["payload"] == body.decode()  # the bytes as stored, escapes intact
    assert (shown["webhook_id"], shown["event_id"], shown["reason"]) == (
        webhook_id,
        None,
        "unparseable",
    )
    assert shown["value"] is None
    assert [h["id"] for h in shown["history"]] == [letter]
    from_cli = json.loads(out)
    assert set(shown) == set(from_cli)
    assert {k: shown[k] for k in ("payload", "value", "reason", "error", "attempts")} == {
        k: from_cli[k] for k in ("payload", "value", "reason", "error", "attempts")
    }
    assert job.status_code == 200
    assert (job.json()["event_id"], job.json()["payload"], job.json()["value"]) == (
        job_id,
        None,
        {"waba_id": "1001"},
    )


async def test_show_and_replay_of_an_unknown_dead_letter_are_404_and_a_bad_id_422(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    key = admin_key(db)

    shown = await api.get("/api/v1/admin/dead-letters/424242", headers=bearer(key))
    replayed = await api.post("/api/v1/admin/dead-letters/424242/replay", headers=bearer(key))
    bad = await api.get("/api/v1/admin/dead-letters/abc", headers=bearer(key))

    assert (shown.status_code, replayed.status_code, bad.status_code) == (404, 404, 422)
    assert [item["loc"] for item in bad.json()["detail"]] == [["path", "dead_letter_id"]]


async def test_a_replay_through_the_api_then_the_cli_replays_once_and_audits_the_key(
    api: httpx.AsyncClient,
    db: psycopg.Connection[Any],
    cli: Any,
    broker_queue: Callable[[str], list[int]],
):
    job_id, letter = dead_job(db)
    key = admin_key(db)

    response = await api.post(f"/api/v1/admin/dead-letters/{letter}/replay", headers=bearer(key))
    code, out, err = cli("dlq", "replay", str(letter), "--json")

    assert response.status_code == 202
    assert response.json() == {
        "replayed": 1,
        "skipped": 0,
        "results": [{"id": letter, "status": "replayed"}],
    }
    assert (code, json.loads(out)) == (0, {"replayed": 0})
    assert f"skipped dead letter {letter}: already replayed" in err
    assert db.execute("SELECT status, attempts FROM event WHERE id = %s", (job_id,)).fetchone() == (
        "pending",
        0,
    )
    assert broker_queue(EVENTS_QUEUE) == [job_id]
    assert audit_rows(db) == [
        (f"api_key:{key_id_of(key)} (ops)", "dead_letter.replay", f"dead_letter:{letter}")
    ]


async def test_a_replay_through_the_cli_then_the_api_replays_once_and_audits_the_os_user(
    api: httpx.AsyncClient,
    db: psycopg.Connection[Any],
    cli: Any,
    broker_queue: Callable[[str], list[int]],
):
    job_id, letter = dead_job(db)

    code, out, _ = cli("dlq", "replay", str(letter), "--json")
    response = await api.post(
        f"/api/v1/admin/dead-letters/{letter}/replay", headers=bearer(admin_key(db))
    )

    assert (code, json.loads(out)) == (0, {"replayed": 1})
    assert response.status_code == 202
    assert response.json() == {
        "replayed": 0,
        "skipped": 1,
        "results": [{"id": letter, "status": "already_replayed"}],
    }
    assert broker_queue(EVENTS_QUEUE) == [job_id]
    assert audit_rows(db) == [(getpass.getuser(), "dead_letter.replay", f"dead_letter:{letter}")]


async def test_replaying_a_webhook_dead_letter_enqueues_the_webhook(
    api: httpx.AsyncClient,
    db: psycopg.Connection[Any],
    worker_deps: WorkerDeps,
    broker_queue: Callable[[str], list[int]],
):
    webhook_id, letter = dead_webhook(db, worker_deps, b"garbage")

    response = await api.post(
        f"/api/v1/admin/dead-letters/{letter}/replay", headers=bearer(admin_key(db))
    )

    assert response.json()["replayed"] == 1
    assert broker_queue(WEBHOOKS_QUEUE) == [webhook_id]
    assert db.execute("SELECT status FROM webhook_log WHERE id = %s", (webhook_id,)).fetchone() == (
        "received",
    )


async def test_a_dead_letter_whose_row_is_gone_is_409_and_stays_open(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    job_id, letter = dead_job(db)
    db.execute("DELETE FROM event WHERE id = %s", (job_id,))

    response = await api.post(
        f"/api/v1/admin/dead-letters/{letter}/replay", headers=bearer(admin_key(db))
    )

    assert response.status_code == 409
    assert f"event {job_id}" in response.json()["detail"]
    assert db.execute(
        "SELECT replayed_at FROM dead_letter WHERE id = %s", (letter,)
    ).fetchone() == (None,)
    assert audit_rows(db) == []


async def test_organization_keys_get_403_on_every_dead_letter_route(
    api: httpx.AsyncClient, db: psycopg.Connection[Any]
):
    _, letter = dead_job(db)
    key = bearer(org_key(db, "acme"))

    answers = [
        await api.get("/api/v1/admin/dead-letters", headers=key),
        await api.get(f"/api/v1/admin/dead-letters/{letter}", headers=key),
        await api.post(f"/api/v1/admin/dead-letters/{letter}/replay", headers=key),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403]
    assert db.execute("SELECT replayed_at FROM dead_letter").fetchall() == [(None,)]
