"""The token health check over the real table and a fake Graph (SPEC §9, §13, §16)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from adapters.token_checks import check_tokens
from adapters.token_store import load_token, save_token
from domain.errors import (
    GraphErrorInfo,
    GraphRateLimited,
    GraphRejected,
    GraphUnavailable,
)
from domain.graph import REQUIRED_SCOPES, AccessToken, GraphPhoneNumber, SyncType, TokenInfo
from domain.token_crypto import TokenCipher
from domain.token_health import TokenStatus

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
CIPHER = TokenCipher([("k1", bytes(range(32)))])

Db = psycopg.Connection[Any]
Answer = TokenInfo | Exception


class FakeGraph:
    """``GraphApi`` whose ``debug_token`` answers from a table; records what it was asked."""

    def __init__(self, answers: dict[AccessToken, Answer] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[AccessToken] = []
        self.before_answer: Callable[[], None] | None = None

    def debug_token(self, token: AccessToken) -> TokenInfo:
        self.asked.append(token)
        if self.before_answer is not None:
            self.before_answer()
        answer = self.answers[token]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def exchange_code(self, code: str) -> AccessToken:
        raise NotImplementedError

    def subscribe_app(self, waba_id: str, token: AccessToken) -> None:
        raise NotImplementedError

    def list_phone_numbers(self, waba_id: str, token: AccessToken) -> list[GraphPhoneNumber]:
        raise NotImplementedError

    def register_phone(self, phone_number_id: str, token: AccessToken, pin: str) -> None:
        raise NotImplementedError

    def request_sync(
        self, phone_number_id: str, token: AccessToken, sync_type: SyncType
    ) -> str | None:
        raise NotImplementedError


def valid_for(days: float | None) -> TokenInfo:
    expires = None if days is None else NOW + timedelta(days=days)
    return TokenInfo(is_valid=True, expires_at=expires, scopes=REQUIRED_SCOPES)


def new_token() -> AccessToken:
    return AccessToken("EAAG" + uuid.uuid4().hex)


def stored(db: Db, answer: Answer, graph: FakeGraph, waba_id: str | None = None) -> str:
    waba_id = waba_id or str(uuid.uuid4().int)[:15]
    token = new_token()
    save_token(db, CIPHER, waba_id, token)
    graph.answers[token] = answer
    return waba_id


def status_of(db: Db, waba_id: str) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT status, reason, checked_at FROM business_token WHERE waba_id = %s", (waba_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def run(db: Db, graph: FakeGraph, **kwargs: Any) -> dict[str, Any]:
    checks = check_tokens(db, CIPHER, graph, now=NOW, warn_days=30, critical_days=7, **kwargs)
    return {check.waba_id: check for check in checks}


def test_each_token_is_classified_and_recorded(db: Db):
    graph = FakeGraph()
    forever = stored(db, valid_for(None), graph)
    soon = stored(db, valid_for(20), graph)
    critical = stored(db, valid_for(2), graph)
    scopeless = stored(db, TokenInfo(True, None, frozenset()), graph)

    checks = run(db, graph)

    assert {w: c.health.status for w, c in checks.items()} == {
        forever: TokenStatus.VALID,
        soon: TokenStatus.EXPIRING_SOON,
        critical: TokenStatus.CRITICAL,
        scopeless: TokenStatus.INVALID,
    }
    assert status_of(db, soon)[0] == "expiring_soon"
    assert status_of(db, soon)[2] == NOW
    assert status_of(db, scopeless)[:2] == (
        "invalid",
        "missing scopes: " + ", ".join(sorted(REQUIRED_SCOPES)),
    )


def test_an_undecryptable_token_is_recorded_without_asking_graph(db: Db):
    graph = FakeGraph()
    waba_id = "102290129340398"
    save_token(db, TokenCipher([("lost", bytes(32))]), waba_id, new_token())

    checks = run(db, graph)

    assert checks[waba_id].health.status is TokenStatus.UNDECRYPTABLE
    assert checks[waba_id].health.reconnect_required
    assert graph.asked == []
    status, reason, checked_at = status_of(db, waba_id)
    assert (status, checked_at) == ("undecryptable", NOW)
    assert "'lost'" in reason


def test_graph_refusing_the_token_with_code_190_makes_it_invalid(db: Db):
    graph = FakeGraph()
    refused = GraphRejected("debug_token", GraphErrorInfo(190, 463, "Session has expired"))
    waba_id = stored(db, refused, graph)

    checks = run(db, graph)

    assert checks[waba_id].health.status is TokenStatus.INVALID
    assert status_of(db, waba_id)[:2] == ("invalid", "graph code 190: Session has expired")


@pytest.mark.parametrize(
    "failure",
    [
        GraphUnavailable("graph: timed out"),
        GraphRateLimited(GraphErrorInfo(4, None, "Application request limit reached")),
        GraphRejected("debug_token", GraphErrorInfo(100, None, "Invalid parameter")),
    ],
)
def test_a_token_graph_could_not_judge_is_reported_unchecked_and_left_as_it_was(
    db: Db, failure: Exception
):
    graph = FakeGraph()
    waba_id = stored(db, failure, graph)
    healthy = stored(db, valid_for(None), graph)

    checks = run(db, graph)

    assert not checks[waba_id].checked
    assert checks[waba_id].health is None
    assert checks[waba_id].not_checked
    assert status_of(db, waba_id) == ("unchecked", None, None)
    assert checks[healthy].health.status is TokenStatus.VALID


def test_a_token_replaced_during_the_check_does_not_get_the_old_ones_health(db: Db):
    graph = FakeGraph()
    waba_id = stored(db, TokenInfo(False, None, REQUIRED_SCOPES), graph)
    replacement = new_token()
    graph.before_answer = lambda: save_token(db, CIPHER, waba_id, replacement)

    checks = run(db, graph)

    assert not checks[waba_id].checked
    assert status_of(db, waba_id) == ("unchecked", None, None)
    assert load_token(db, CIPHER, waba_id) == replacement


def test_the_organization_filter_checks_only_that_organizations_tokens(db: Db):
    graph = FakeGraph()
    mine = stored(db, valid_for(None), graph)
    theirs = stored(db, valid_for(None), graph)
    for waba_id, organization in ((mine, "acme"), (theirs, "globex")):
        db.execute(
            "INSERT INTO connection (waba_id, organization_id, status, status_at, status_source)"
            " VALUES (%s, %s, 'active', now(), 'test')",
            (waba_id, organization),
        )

    checks = run(db, graph, organization_id="acme")

    assert list(checks) == [mine]
    assert status_of(db, theirs)[0] == "unchecked"


def test_the_check_logs_outcomes_but_never_a_token(db: Db, caplog: pytest.LogCaptureFixture):
    graph = FakeGraph()
    tokens = []
    for answer in (valid_for(3), GraphUnavailable("graph: 503")):
        waba_id = stored(db, answer, graph)
        tokens.append(load_token(db, CIPHER, waba_id).reveal())
    save_token(db, TokenCipher([("lost", bytes(32))]), "lost-waba", new_token())

    with caplog.at_level(logging.DEBUG):
        run(db, graph)

    assert "critical" in caplog.text
    assert "not checked" in caplog.text
    assert "undecryptable" in caplog.text
    for token in tokens:
        assert token not in caplog.text


def test_the_check_refuses_a_connection_inside_a_transaction(database_url: str):
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(RuntimeError, match="no transaction open"):
            check_tokens(conn, CIPHER, FakeGraph(), now=NOW, warn_days=30, critical_days=7)


def test_a_token_deleted_during_the_check_is_left_out(db: Db):
    graph = FakeGraph()
    waba_id = stored(db, valid_for(None), graph)
    graph.before_answer = lambda: db.execute(
        "DELETE FROM business_token WHERE waba_id = %s", (waba_id,)
    )

    assert run(db, graph) == {}


def test_a_token_replaced_during_the_check_by_one_that_does_not_decrypt_is_undecryptable(
    db: Db,
):
    graph = FakeGraph()
    waba_id = stored(db, valid_for(None), graph)
    foreign = TokenCipher([("lost", bytes(32))])
    graph.before_answer = lambda: save_token(db, foreign, waba_id, new_token())

    checks = run(db, graph)

    assert checks[waba_id].health.status is TokenStatus.UNDECRYPTABLE
    assert status_of(db, waba_id)[0] == "undecryptable"
