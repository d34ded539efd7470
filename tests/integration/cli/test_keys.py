"""``wapipe keys generate|rotate`` against the real database (SPEC §9, §10)."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from typing import Any

import psycopg
import pytest

from adapters.token_store import load_token, save_token, token_key_counts
from domain.graph import AccessToken
from domain.token_crypto import TokenCipher
from runtime.settings import Settings

OLD_KID, OLD_HEX = "k1", "11" * 32
NEW_KID, NEW_HEX = "k2", "22" * 32
OLD = TokenCipher([(OLD_KID, bytes.fromhex(OLD_HEX))])
BOTH = TokenCipher([(NEW_KID, bytes.fromhex(NEW_HEX)), (OLD_KID, bytes.fromhex(OLD_HEX))])
ROTATING = f"{NEW_KID}:{NEW_HEX},{OLD_KID}:{OLD_HEX}"

Db = psycopg.Connection[Any]


def with_keys(environ: dict[str, str], keys: str) -> dict[str, str]:
    return {**environ, "WAPIPE_TOKEN_KEYS": keys}


def store_old_tokens(db: Db, count: int) -> dict[str, AccessToken]:
    tokens = {
        str(uuid.uuid4().int)[:15]: AccessToken("EAAG" + uuid.uuid4().hex) for _ in range(count)
    }
    for waba_id, token in tokens.items():
        save_token(db, OLD, waba_id, token)
    return tokens


def test_generate_prints_a_key_the_settings_accept_and_says_where_it_goes(run_cli: Any):
    result = run_cli("keys", "generate")

    assert result.code == 0
    (line,) = result.out.splitlines()
    (key,) = Settings.from_environ({"WAPIPE_TOKEN_KEYS": line}).token_keys
    assert line == f"{key.kid}:{key.key}"
    assert "WAPIPE_TOKEN_KEYS" in result.err
    assert "first" in result.err
    assert line not in result.err


def test_generate_gives_a_new_key_each_time(run_cli: Any):
    assert run_cli("keys", "generate").out != run_cli("keys", "generate").out


def test_rotate_without_token_keys_fails_naming_the_variable(run_cli: Any):
    result = run_cli("keys", "rotate")

    assert result.code == 1
    assert "WAPIPE_TOKEN_KEYS" in result.err


def test_rotate_re_encrypts_every_token_and_a_second_run_rotates_none(
    run_cli: Any, environ: dict[str, str], db: Db
):
    tokens = store_old_tokens(db, 5)
    env = with_keys(environ, ROTATING)

    first = run_cli("keys", "rotate", "--batch", "2", "--json", env=env)
    second = run_cli("keys", "rotate", "--json", env=env)

    assert (first.code, json.loads(first.out)) == (0, {"rotated": 5})
    assert (second.code, json.loads(second.out)) == (0, {"rotated": 0})
    assert token_key_counts(db) == {NEW_KID: 5}
    new_only = TokenCipher([(NEW_KID, bytes.fromhex(NEW_HEX))])
    assert {waba_id: load_token(db, new_only, waba_id) for waba_id in tokens} == tokens


def test_rotate_without_a_terminal_reports_progress_in_plain_lines_on_stderr(
    run_cli: Any, environ: dict[str, str], db: Db
):
    store_old_tokens(db, 3)

    result = run_cli("keys", "rotate", "--batch", "2", env=with_keys(environ, ROTATING))

    assert result.code == 0
    assert result.out == f"rotated 3 token(s) to key {NEW_KID}\n"
    assert result.err.splitlines() == ["rotated 2/3", "rotated 3/3"]


def test_rotate_on_a_terminal_draws_a_progress_bar(
    run_cli: Any, environ: dict[str, str], db: Db, monkeypatch: pytest.MonkeyPatch
):
    store_old_tokens(db, 3)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)

    result = run_cli("keys", "rotate", env=with_keys(environ, ROTATING))

    assert result.code == 0
    assert "3/3" in result.err
    assert "rotated 3/3\n" not in result.err  # the bar, not the plain lines


def test_rotate_fails_when_tokens_stay_under_a_key_that_is_not_listed(
    run_cli: Any, environ: dict[str, str], db: Db
):
    store_old_tokens(db, 2)
    lost = TokenCipher([("gone", bytes(32))])
    save_token(db, lost, "lost-waba", AccessToken("EAAGlost"))

    result = run_cli("keys", "rotate", "--json", env=with_keys(environ, ROTATING))

    assert result.code == 1
    assert json.loads(result.out) == {"rotated": 2}
    assert "1 token(s) are still under old keys (gone: 1" in result.err
    assert "not in WAPIPE_TOKEN_KEYS: gone" in result.err
    row = db.execute("SELECT status FROM business_token WHERE waba_id = 'lost-waba'").fetchone()
    assert row == ("undecryptable",)


def test_rotate_points_at_encrypt_legacy_when_plaintext_tokens_remain(
    run_cli: Any, environ: dict[str, str], db: Db
):
    db.execute("INSERT INTO business_token (waba_id, ciphertext) VALUES ('legacy', 'EAAGplain')")

    result = run_cli("keys", "rotate", env=with_keys(environ, ROTATING))

    assert result.code == 0
    assert "1 legacy plaintext token(s) left" in result.err
    assert "wapipe tokens encrypt-legacy" in result.err


@pytest.mark.parametrize("batch", ["0", "-1", "x", "10001"])
def test_rotate_with_a_bad_batch_size_is_a_usage_error(run_cli: Any, batch: str):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("keys", "rotate", "--batch", batch)

    assert exit_info.value.code == 2


def test_rotate_never_prints_or_logs_a_token_or_key(
    run_cli: Any, environ: dict[str, str], db: Db, caplog: pytest.LogCaptureFixture
):
    tokens = store_old_tokens(db, 2)
    save_token(db, TokenCipher([("gone", bytes(32))]), "lost-waba", AccessToken("EAAGlost123"))

    with caplog.at_level(logging.DEBUG):
        result = run_cli("keys", "rotate", env=with_keys(environ, ROTATING))

    shown = result.out + result.err + caplog.text
    assert "lost-waba" in caplog.text  # the failure was logged, by WABA
    for secret in [*(t.reveal() for t in tokens.values()), "EAAGlost123", OLD_HEX, NEW_HEX]:
        assert secret not in shown
