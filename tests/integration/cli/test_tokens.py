"""``wapipe tokens check|encrypt-legacy`` against the real database (SPEC §9, §10, §13)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from adapters.token_store import load_token, save_token, token_key_counts
from domain.errors import GraphUnavailable
from domain.graph import REQUIRED_SCOPES, AccessToken, TokenInfo
from domain.token_crypto import TokenCipher
from runtime import bootstrap
from runtime.settings import Settings
from tests.integration.adapters.test_token_checks import FakeGraph

KID, HEX = "k1", "33" * 32
CIPHER = TokenCipher([(KID, bytes.fromhex(HEX))])
HEALTHY = AccessToken("EAAGhealthyTokenValue0123456789")
EXPIRING = AccessToken("EAAGexpiringTokenValue0123456789")
FLAKY = AccessToken("EAAGflakyTokenValue0123456789")

Db = psycopg.Connection[Any]


class ClosingGraph(FakeGraph):
    closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def env(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "WAPIPE_TOKEN_KEYS": f"{KID}:{HEX}", "WAPIPE_META_APP_ID": "1234"}


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> ClosingGraph:
    """The Graph client ``tokens check`` builds through the composition root."""
    fake = ClosingGraph()

    def build_graph_api(settings: Settings, **kwargs: Any) -> ClosingGraph:
        assert settings.meta_app_id == "1234"
        return fake

    monkeypatch.setattr(bootstrap, "build_graph_api", build_graph_api, raising=False)
    return fake


def add_connection(db: Db, waba_id: str, organization_id: str) -> None:
    db.execute(
        "INSERT INTO connection (waba_id, organization_id, status, status_at, status_source)"
        " VALUES (%s, %s, 'active', now(), 'test')",
        (waba_id, organization_id),
    )


def test_encrypt_legacy_encrypts_every_plaintext_token(run_cli: Any, env: dict[str, str], db: Db):
    for waba_id, token in (("w1", HEALTHY), ("w2", EXPIRING), ("w3", FLAKY)):
        db.execute(
            "INSERT INTO business_token (waba_id, ciphertext) VALUES (%s, %s)",
            (waba_id, token.reveal()),
        )

    result = run_cli("tokens", "encrypt-legacy", "--batch", "2", "--json", env=env)
    again = run_cli("tokens", "encrypt-legacy", "--json", env=env)

    assert (result.code, json.loads(result.out)) == (0, {"encrypted": 3})
    assert (again.code, json.loads(again.out)) == (0, {"encrypted": 0})
    assert result.err.splitlines() == ["encrypted 2/3", "encrypted 3/3"]
    assert token_key_counts(db) == {KID: 3}
    assert load_token(db, CIPHER, "w2") == EXPIRING
    stored = " ".join(row[0] for row in db.execute("SELECT ciphertext FROM business_token"))
    for token in (HEALTHY, EXPIRING, FLAKY):
        assert token.reveal() not in stored + result.out + result.err


def test_encrypt_legacy_without_token_keys_fails_naming_the_variable(
    run_cli: Any, environ: dict[str, str]
):
    result = run_cli("tokens", "encrypt-legacy", env=environ)

    assert result.code == 1
    assert "WAPIPE_TOKEN_KEYS" in result.err


def test_check_records_each_tokens_health_and_prints_it(
    run_cli: Any, env: dict[str, str], db: Db, graph: ClosingGraph
):
    save_token(db, CIPHER, "w-healthy", HEALTHY)
    save_token(db, CIPHER, "w-expiring", EXPIRING)
    save_token(db, TokenCipher([("lost", bytes(32))]), "w-lost", FLAKY)
    soon = datetime.now(UTC) + timedelta(days=3)
    graph.answers = {
        HEALTHY: TokenInfo(True, None, REQUIRED_SCOPES),
        EXPIRING: TokenInfo(True, soon, REQUIRED_SCOPES),
    }

    result = run_cli("tokens", "check", "--json", env=env)

    assert result.code == 0, result.err
    items = {item["waba_id"]: item for item in json.loads(result.out)}
    assert {w: (i["status"], i["reconnect_required"]) for w, i in items.items()} == {
        "w-expiring": ("critical", True),
        "w-healthy": ("valid", False),
        "w-lost": ("undecryptable", True),
    }
    assert all(item["checked"] for item in items.values())
    assert datetime.fromisoformat(items["w-expiring"]["expires_at"]) == soon
    assert dict(db.execute("SELECT waba_id, status FROM business_token").fetchall()) == {
        "w-expiring": "critical",
        "w-healthy": "valid",
        "w-lost": "undecryptable",
    }
    assert graph.closed


def test_check_of_one_organization_and_for_people_is_a_table(
    run_cli: Any, env: dict[str, str], db: Db, graph: ClosingGraph
):
    save_token(db, CIPHER, "w-acme", HEALTHY)
    save_token(db, CIPHER, "w-globex", EXPIRING)
    add_connection(db, "w-acme", "acme")
    add_connection(db, "w-globex", "globex")
    graph.answers = {HEALTHY: TokenInfo(True, None, REQUIRED_SCOPES)}

    result = run_cli("tokens", "check", "--org", "acme", env=env)

    assert result.code == 0, result.err
    header, row = result.out.splitlines()
    assert header.split() == ["WABA_ID", "STATUS", "EXPIRES_AT", "RECONNECT_REQUIRED", "REASON"]
    assert row.split()[:4] == ["w-acme", "valid", "-", "False"]


def test_check_fails_when_graph_could_not_be_asked_and_leaves_the_row(
    run_cli: Any, env: dict[str, str], db: Db, graph: ClosingGraph
):
    save_token(db, CIPHER, "w-flaky", FLAKY)
    graph.answers = {FLAKY: GraphUnavailable("graph: timed out")}

    result = run_cli("tokens", "check", "--json", env=env)

    assert result.code == 1
    (item,) = json.loads(result.out)
    assert (item["waba_id"], item["checked"], item["status"]) == ("w-flaky", False, None)
    assert "1 token(s) could not be checked" in result.err
    assert "w-flaky" in result.err
    row = db.execute("SELECT status, checked_at FROM business_token").fetchone()
    assert row == ("unchecked", None)


def test_check_needs_the_app_id_for_graph(run_cli: Any, env: dict[str, str], graph: ClosingGraph):
    result = run_cli("tokens", "check", env={**env, "WAPIPE_META_APP_ID": ""})

    assert result.code == 1
    assert "WAPIPE_META_APP_ID" in result.err


def test_check_with_a_malformed_organization_is_a_usage_error(run_cli: Any):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("tokens", "check", "--org", " acme")

    assert exit_info.value.code == 2


def test_no_token_ever_appears_in_output_or_logs(
    run_cli: Any, env: dict[str, str], db: Db, graph: ClosingGraph, caplog: pytest.LogCaptureFixture
):
    save_token(db, CIPHER, "w-healthy", HEALTHY)
    save_token(db, CIPHER, "w-flaky", FLAKY)
    save_token(db, TokenCipher([("lost", bytes(32))]), "w-lost", EXPIRING)
    db.execute(
        "INSERT INTO business_token (waba_id, ciphertext) VALUES ('w-legacy', 'EAAGlegacy1')"
    )
    graph.answers = {
        HEALTHY: TokenInfo(False, None, frozenset()),
        FLAKY: GraphUnavailable("graph: 503"),
        AccessToken("EAAGlegacy1"): TokenInfo(True, None, REQUIRED_SCOPES),
    }

    with caplog.at_level(logging.DEBUG):
        shown = [
            run_cli("tokens", "check", env=env),
            run_cli("tokens", "check", "--json", env=env),
            run_cli("tokens", "encrypt-legacy", env=env),
            run_cli("keys", "rotate", env=env),
        ]

    text = caplog.text + "".join(r.out + r.err for r in shown)
    assert "w-lost" in text
    assert "w-flaky" in text
    for secret in (HEALTHY, FLAKY, EXPIRING, AccessToken("EAAGlegacy1")):
        assert secret.reveal() not in text
    assert HEX not in text
