"""``wapipe orphans list|claim`` against the real database (SPEC §7.6, §10, §16)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from cli.main import main
from tests.integration.api.rows import T0, add_connection


def audit_rows(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in db.execute("SELECT actor, action, subject, details FROM audit_log ORDER BY id")
    ]


def test_list_json_prints_the_orphans_oldest_first_in_the_contract_shape(
    db: psycopg.Connection[Any], run_cli: Any
):
    add_connection(db, "102", None, status="orphan", detected_at=T0 + timedelta(hours=1))
    add_connection(db, "101", None, status="orphan", owner_business_id=None)
    add_connection(db, "103", "acme")

    result = run_cli("orphans", "list", "--json")

    assert result.code == 0
    items = json.loads(result.out)
    assert [set(item) for item in items] == [{"waba_id", "owner_business_id", "detected_at"}] * 2
    assert [(i["waba_id"], i["owner_business_id"]) for i in items] == [
        ("101", None),
        ("102", "biz-1"),
    ]


def test_list_without_json_prints_a_table(db: psycopg.Connection[Any], run_cli: Any):
    add_connection(db, "101", None, status="orphan")

    result = run_cli("orphans", "list")
    assert run_cli("orphans", "claim", "101", "acme", "--by", "alice").code == 0
    after = run_cli("orphans", "list")

    assert result.code == 0
    assert result.out.splitlines()[0].split() == ["WABA_ID", "OWNER_BUSINESS_ID", "DETECTED_AT"]
    assert "101" in result.out
    assert "(none)" in after.out


def test_claim_attaches_the_orphan_and_writes_the_audit_row_by_who(
    db: psycopg.Connection[Any], run_cli: Any
):
    add_connection(db, "101", None, status="orphan")

    result = run_cli("orphans", "claim", "101", "acme", "--by", "alice@ops")

    assert result.code == 0
    assert "claimed WABA 101 for organization acme" in result.out
    assert db.execute(
        "SELECT organization_id, status FROM connection WHERE waba_id = '101'"
    ).fetchone() == ("acme", "active")
    assert audit_rows(db) == [
        ("alice@ops", "orphan.claim", "connection:101", {"organization_id": "acme"})
    ]
    assert json.loads(run_cli("orphans", "list", "--json").out) == []


def test_claim_json_prints_the_connection(db: psycopg.Connection[Any], run_cli: Any):
    add_connection(db, "101", None, status="orphan")

    result = run_cli("orphans", "claim", "101", "acme", "--by", "alice", "--json")

    assert json.loads(result.out) == {
        "waba_id": "101",
        "organization_id": "acme",
        "owner_business_id": "biz-1",
        "status": "active",
    }


def test_claiming_an_unknown_waba_exits_1_with_a_message(db: psycopg.Connection[Any], run_cli: Any):
    result = run_cli("orphans", "claim", "404", "acme", "--by", "alice")

    assert result.code == 1
    assert result.out == ""
    assert "no connection for WABA 404" in result.err
    assert audit_rows(db) == []


def test_claiming_a_waba_that_is_not_an_orphan_exits_1_and_changes_nothing(
    db: psycopg.Connection[Any], run_cli: Any
):
    add_connection(db, "101", "globex")

    result = run_cli("orphans", "claim", "101", "acme", "--by", "alice")

    assert result.code == 1
    assert "WABA 101 is not an orphan" in result.err
    assert db.execute("SELECT organization_id FROM connection").fetchall() == [("globex",)]
    assert audit_rows(db) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["orphans", "claim", "101", "acme"],  # --by is required
        ["orphans", "claim", "101", "acme", "--by", ""],
        ["orphans", "claim", "1/01", "acme", "--by", "alice"],
        ["orphans", "claim", "101", "", "--by", "alice"],
        ["orphans", "claim", "101"],
        ["orphans"],
    ],
)
def test_arguments_of_the_wrong_form_are_usage_errors(
    argv: list[str],
    environ: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    db: psycopg.Connection[Any],
):
    with pytest.raises(SystemExit) as exit_info:
        main(argv, environ)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err
