"""``wapipe apikeys create|list|revoke`` against the real database (SPEC §8, §10, §16)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import psycopg
import pytest

from adapters.api_keys import ApiPrincipal, KeyScope, authenticate


def authenticated(database_url: str, key: str) -> ApiPrincipal | None:
    """What the API would make of ``key``."""

    async def check() -> ApiPrincipal | None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await authenticate(conn, key)

    return asyncio.run(check())


def create(run_cli: Any, *argv: str) -> dict[str, Any]:
    result = run_cli("apikeys", "create", *argv, "--json")
    assert result.code == 0, result.err
    created: dict[str, Any] = json.loads(result.out)
    return created


def test_create_org_json_gives_the_key_once_and_it_authenticates_for_that_organization(
    run_cli: Any, database_url: str
):
    result = run_cli("apikeys", "create", "--org", "acme", "--name", "backend", "--json")

    assert result.code == 0
    created = json.loads(result.out)
    assert set(created) >= {"id", "key", "scope", "organization_id"}
    assert (created["scope"], created["organization_id"]) == ("organization", "acme")
    assert created["key"].startswith(f"wpk_{created['id']}_")
    assert "only this once" in result.err
    principal = authenticated(database_url, created["key"])
    assert principal is not None
    assert (principal.key_id, principal.scope, principal.organization_id) == (
        created["id"],
        KeyScope.ORGANIZATION,
        "acme",
    )


def test_create_admin_json_gives_an_admin_key_of_no_organization(run_cli: Any, database_url: str):
    created = create(run_cli, "--admin")

    assert (created["scope"], created["organization_id"]) == ("admin", None)
    principal = authenticated(database_url, created["key"])
    assert principal is not None
    assert principal.is_admin


def test_the_key_is_not_stored_only_its_hash(run_cli: Any, db: psycopg.Connection[Any]):
    created = create(run_cli, "--org", "acme")
    secret = created["key"].removeprefix(f"wpk_{created['id']}_")

    rows = db.execute("SELECT * FROM api_key").fetchall()

    assert len(rows) == 1
    assert not any(secret in str(value) or created["key"] in str(value) for value in rows[0])


def test_create_for_people_prints_the_key_and_what_it_is(run_cli: Any):
    result = run_cli("apikeys", "create", "--org", "acme", "--name", "backend")

    assert result.code == 0
    lines = dict(line.split(None, 1) for line in result.out.splitlines())
    assert lines["scope"] == "organization"
    assert lines["organization"] == "acme"
    assert lines["name"] == "backend"
    assert lines["key"].startswith(f"wpk_{lines['id']}_")


@pytest.mark.parametrize(
    "argv",
    [
        (),  # neither --org nor --admin
        ("--org", "acme", "--admin"),
        ("--org", ""),
        ("--org", " acme"),
        ("--org", "a" * 129),
        ("--org", "ac\nme"),
        ("--admin", "--name", ""),
    ],
)
def test_create_with_bad_arguments_is_a_usage_error_and_creates_nothing(
    run_cli: Any, db: psycopg.Connection[Any], argv: tuple[str, ...]
):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("apikeys", "create", *argv)

    assert exit_info.value.code == 2
    assert db.execute("SELECT count(*) FROM api_key").fetchone() == (0,)


def test_list_json_shows_every_key_newest_first_but_never_a_key_or_hash(run_cli: Any):
    first = create(run_cli, "--org", "acme", "--name", "backend")
    second = create(run_cli, "--admin", "--name", "ops")

    result = run_cli("apikeys", "list", "--json")

    assert result.code == 0
    items = json.loads(result.out)
    assert all(
        set(item) == {"id", "scope", "organization_id", "name", "created_at", "revoked_at"}
        for item in items
    )
    assert [(i["id"], i["scope"], i["organization_id"], i["name"]) for i in items] == [
        (second["id"], "admin", None, "ops"),
        (first["id"], "organization", "acme", "backend"),
    ]
    assert all(datetime.fromisoformat(item["created_at"]).tzinfo for item in items)
    assert all(item["revoked_at"] is None for item in items)
    for created in (first, second):
        assert created["key"].split("_", 3)[3] not in result.out


def test_list_for_people_is_a_table(run_cli: Any):
    created = create(run_cli, "--org", "acme", "--name", "backend")

    result = run_cli("apikeys", "list")

    assert result.code == 0
    header, row = result.out.splitlines()
    assert header.split() == ["ID", "SCOPE", "ORGANIZATION_ID", "NAME", "CREATED_AT", "REVOKED_AT"]
    assert row.split()[:4] == [created["id"], "organization", "acme", "backend"]
    assert created["key"] not in result.out


def test_list_with_no_keys_says_none(run_cli: Any):
    assert run_cli("apikeys", "list", "--json").out.strip() == "[]"
    assert "(none)" in run_cli("apikeys", "list").out


def test_revoke_stops_the_key_at_once_and_list_shows_when(run_cli: Any, database_url: str):
    created = create(run_cli, "--org", "acme")
    kept = create(run_cli, "--org", "acme")

    result = run_cli("apikeys", "revoke", created["id"])

    assert (result.code, result.out.strip()) == (0, f"revoked API key {created['id']}")
    assert authenticated(database_url, created["key"]) is None
    assert authenticated(database_url, kept["key"]) is not None
    revoked_at = {
        i["id"]: i["revoked_at"] for i in json.loads(run_cli("apikeys", "list", "--json").out)
    }
    assert revoked_at[created["id"]] is not None
    assert revoked_at[kept["id"]] is None


def test_revoking_twice_succeeds_and_keeps_the_first_time(run_cli: Any):
    created = create(run_cli, "--admin")
    run_cli("apikeys", "revoke", created["id"])
    (before,) = json.loads(run_cli("apikeys", "list", "--json").out)

    again = run_cli("apikeys", "revoke", created["id"])

    (after,) = json.loads(run_cli("apikeys", "list", "--json").out)
    assert again.code == 0
    assert after["revoked_at"] == before["revoked_at"]


def test_revoking_an_unknown_id_fails_with_a_message(run_cli: Any):
    result = run_cli("apikeys", "revoke", "ak_0123456789ab")

    assert result.code == 1
    assert "no API key with id ak_0123456789ab" in result.err
    assert result.out == ""


@pytest.mark.parametrize(
    "key_id", ["42", "ak_0123", "AK_0123456789AB", "ak_0123456789abc", "wpk_ak_0123456789ab"]
)
def test_revoking_a_malformed_id_is_a_usage_error(run_cli: Any, key_id: str):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("apikeys", "revoke", key_id)

    assert exit_info.value.code == 2


def test_apikeys_without_a_database_url_fails_naming_the_variable(
    run_cli: Any, environ: dict[str, str]
):
    env = {k: v for k, v in environ.items() if k != "WAPIPE_DATABASE_URL"}

    result = run_cli("apikeys", "list", env=env)

    assert result.code == 1
    assert "WAPIPE_DATABASE_URL" in result.err
