"""Business tokens in Postgres: encrypted per row, marked when undecryptable, rotated in
resumable batches, legacy plaintext encrypted (SPEC §9, §13)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from adapters.token_store import (
    TokenNotFound,
    encrypt_legacy_batch,
    load_token,
    record_health,
    rotate_batch,
    save_token,
    token_key_counts,
    token_owner,
    token_status_counts,
    tokens_for_check,
    tokens_to_rotate,
)
from domain.errors import TokenUndecryptable
from domain.graph import REQUIRED_SCOPES, AccessToken
from domain.token_crypto import TokenCipher
from domain.token_health import TokenHealth, TokenStatus

OLD = ("k1", bytes(range(32)))
NEW = ("k2", bytes(range(50, 82)))
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)

Db = psycopg.Connection[Any]


def waba() -> str:
    return str(uuid.uuid4().int)[:15]


def token() -> AccessToken:
    return AccessToken("EAAG" + uuid.uuid4().hex + uuid.uuid4().hex)


def row(db: Db, waba_id: str) -> dict[str, Any]:
    cursor = db.execute("SELECT * FROM business_token WHERE waba_id = %s", (waba_id,))
    values = cursor.fetchone()
    assert values is not None
    assert cursor.description is not None
    return dict(zip([c.name for c in cursor.description], values, strict=True))


def insert_legacy(db: Db, waba_id: str, plaintext: AccessToken) -> None:
    db.execute(
        "INSERT INTO business_token (waba_id, ciphertext) VALUES (%s, %s)",
        (waba_id, plaintext.reveal()),
    )


def add_connection(db: Db, waba_id: str, organization_id: str | None) -> None:
    db.execute(
        "INSERT INTO connection (waba_id, organization_id, status, status_at, status_source)"
        " VALUES (%s, %s, 'active', now(), 'test')",
        (waba_id, organization_id),
    )


@pytest.fixture
def old_cipher() -> TokenCipher:
    return TokenCipher([OLD])


@pytest.fixture
def cipher() -> TokenCipher:
    """After a rotation started: the new key encrypts, the old one still decrypts."""
    return TokenCipher([NEW, OLD])


def test_a_saved_token_is_encrypted_under_the_first_key_and_loads_back(db: Db, cipher: TokenCipher):
    waba_id, value = waba(), token()

    save_token(db, cipher, waba_id, value)

    stored = row(db, waba_id)
    assert stored["key_id"] == "k2"
    assert stored["ciphertext"].startswith("v1.k2.")
    assert value.reveal() not in stored["ciphertext"]
    assert stored["status"] == "unchecked"
    assert load_token(db, cipher, waba_id) == value


def test_saving_again_replaces_the_token_and_forgets_the_old_health(db: Db, cipher: TokenCipher):
    waba_id, first, second = waba(), token(), token()
    save_token(db, cipher, waba_id, first)
    record_health(db, waba_id, TokenHealth(TokenStatus.INVALID, "revoked"))

    save_token(db, cipher, waba_id, second)

    assert load_token(db, cipher, waba_id) == second
    stored = row(db, waba_id)
    assert (stored["status"], stored["reason"], stored["checked_at"]) == ("unchecked", None, None)


def test_a_ciphertext_copied_to_another_row_is_undecryptable_there_and_marked(
    db: Db, cipher: TokenCipher
):
    victim, attacker = waba(), waba()
    save_token(db, cipher, victim, token())
    save_token(db, cipher, attacker, token())

    db.execute(
        "UPDATE business_token SET ciphertext = (SELECT ciphertext FROM business_token"
        " WHERE waba_id = %s) WHERE waba_id = %s",
        (victim, attacker),
    )

    with pytest.raises(TokenUndecryptable, match="does not authenticate"):
        load_token(db, cipher, attacker)
    stored = row(db, attacker)
    assert stored["status"] == "undecryptable"
    assert "k2" in stored["reason"]
    assert row(db, victim)["status"] == "unchecked"


def test_a_token_under_an_unknown_key_id_marks_the_row_undecryptable(db: Db):
    waba_id = waba()
    save_token(db, TokenCipher([("k7", bytes(32))]), waba_id, token())

    with pytest.raises(TokenUndecryptable, match="'k7'"):
        load_token(db, TokenCipher([NEW]), waba_id)

    assert row(db, waba_id)["status"] == "undecryptable"


def test_the_undecryptable_mark_is_part_of_the_callers_transaction(
    database_url: str, db: Db, cipher: TokenCipher
):
    waba_id = waba()
    save_token(db, TokenCipher([("k7", bytes(32))]), waba_id, token())

    with psycopg.connect(database_url) as conn:
        with pytest.raises(TokenUndecryptable):
            load_token(conn, cipher, waba_id)
        conn.rollback()

    assert row(db, waba_id)["status"] == "unchecked"


def test_loading_a_token_never_stored_raises_token_not_found(db: Db, cipher: TokenCipher):
    with pytest.raises(TokenNotFound) as raised:
        load_token(db, cipher, waba())
    assert isinstance(raised.value, LookupError)


def test_a_legacy_plaintext_token_loads_as_it_is_until_encrypted(db: Db, cipher: TokenCipher):
    waba_id, value = waba(), token()
    insert_legacy(db, waba_id, value)

    assert load_token(db, cipher, waba_id) == value


def test_the_table_refuses_a_key_id_that_is_not_the_ciphertexts(db: Db, cipher: TokenCipher):
    ciphertext = cipher.encrypt(token(), token_owner("1"))
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO business_token (waba_id, ciphertext, key_id) VALUES ('1', %s, 'k1')",
            (ciphertext,),
        )
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO business_token (waba_id, ciphertext) VALUES ('1', %s)", (ciphertext,)
        )


def test_a_token_of_any_length_is_stored(db: Db, cipher: TokenCipher):
    waba_id, value = waba(), AccessToken("EAA" + "x" * 20_000)

    save_token(db, cipher, waba_id, value)

    assert load_token(db, cipher, waba_id) == value


def test_recorded_health_is_stored_with_scopes_expiry_and_check_time(db: Db, cipher: TokenCipher):
    waba_id = waba()
    save_token(db, cipher, waba_id, token())
    health = TokenHealth(
        TokenStatus.EXPIRING_SOON, "soon", NOW + timedelta(days=10), REQUIRED_SCOPES
    )

    assert record_health(db, waba_id, health, checked_at=NOW)

    stored = row(db, waba_id)
    assert stored["status"] == "expiring_soon"
    assert stored["reason"] == "soon"
    assert stored["expires_at"] == NOW + timedelta(days=10)
    assert stored["scopes"] == sorted(REQUIRED_SCOPES)
    assert stored["checked_at"] == NOW
    assert not record_health(db, waba(), health)


def test_rotation_re_encrypts_every_row_under_the_new_key_and_a_second_run_rotates_none(
    db: Db, old_cipher: TokenCipher, cipher: TokenCipher
):
    values = {waba(): token() for _ in range(7)}
    for waba_id, value in values.items():
        save_token(db, old_cipher, waba_id, value)
    record_health(db, next(iter(values)), TokenHealth(TokenStatus.VALID, "fine"))

    batches = []
    while rotated := rotate_batch(db, cipher, 3):
        batches.append(rotated)

    assert batches == [3, 3, 1]
    assert token_key_counts(db) == {"k2": 7}
    new_only = TokenCipher([NEW])
    assert {w: load_token(db, new_only, w) for w in values} == values
    assert row(db, next(iter(values)))["status"] == "valid"  # health survives rotation
    assert rotate_batch(db, cipher, 3) == 0


def test_a_rotation_stopped_halfway_resumes_where_it_stopped(
    db: Db, old_cipher: TokenCipher, cipher: TokenCipher
):
    for _ in range(5):
        save_token(db, old_cipher, waba(), token())

    assert rotate_batch(db, cipher, 2) == 2  # then the run is interrupted
    assert token_key_counts(db) == {"k1": 3, "k2": 2}

    assert rotate_batch(db, cipher, 100) == 3
    assert token_key_counts(db) == {"k2": 5}


def test_rows_that_do_not_decrypt_are_marked_and_do_not_stop_the_rotation(
    db: Db, old_cipher: TokenCipher, cipher: TokenCipher
):
    good = [waba() for _ in range(3)]
    for waba_id in good:
        save_token(db, old_cipher, waba_id, token())
    lost = [waba() for _ in range(4)]
    for waba_id in lost:
        save_token(db, TokenCipher([("gone", bytes(32))]), waba_id, token())

    total = 0
    while rotated := rotate_batch(db, cipher, 2):
        total += rotated

    assert total == 3
    assert token_key_counts(db) == {"k2": 3, "gone": 4}
    assert {row(db, w)["status"] for w in lost} == {"undecryptable"}


def test_a_row_whose_key_came_back_is_rotated_and_no_longer_marked(
    db: Db, old_cipher: TokenCipher, cipher: TokenCipher
):
    waba_id, value = waba(), token()
    save_token(db, old_cipher, waba_id, value)
    assert rotate_batch(db, TokenCipher([NEW]), 10) == 0  # the old key was left out
    assert row(db, waba_id)["status"] == "undecryptable"

    assert rotate_batch(db, cipher, 10) == 1

    stored = row(db, waba_id)
    assert (stored["key_id"], stored["status"], stored["reason"]) == ("k2", "unchecked", None)
    assert load_token(db, cipher, waba_id) == value


def test_rows_locked_by_another_rotation_are_skipped_not_waited_for(
    database_url: str, db: Db, old_cipher: TokenCipher, cipher: TokenCipher
):
    held, free = sorted([waba(), waba()])
    save_token(db, old_cipher, held, token())
    save_token(db, old_cipher, free, token())
    locked = threading.Event()
    release = threading.Event()

    def other_run() -> None:
        with psycopg.connect(database_url) as conn, conn.transaction():
            assert [t.waba_id for t in tokens_to_rotate(conn, "k2", 1)] == [held]
            locked.set()
            release.wait(10)

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert locked.wait(10)
        assert rotate_batch(db, cipher, 10) == 1
    finally:
        release.set()
        thread.join(10)
    assert token_key_counts(db) == {"k1": 1, "k2": 1}
    assert row(db, free)["key_id"] == "k2"


def test_batches_refuse_a_connection_inside_a_transaction(database_url: str, cipher: TokenCipher):
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(RuntimeError, match="no transaction open"):
            rotate_batch(conn, cipher, 10)
        with pytest.raises(RuntimeError, match="no transaction open"):
            encrypt_legacy_batch(conn, cipher, 10)


def test_legacy_plaintext_rows_are_encrypted_in_batches(db: Db, cipher: TokenCipher):
    legacy = {waba(): token() for _ in range(5)}
    for waba_id, value in legacy.items():
        insert_legacy(db, waba_id, value)
    modern = waba()
    save_token(db, cipher, modern, token())

    batches = []
    while encrypted := encrypt_legacy_batch(db, cipher, 2):
        batches.append(encrypted)

    assert batches == [2, 2, 1]
    assert token_key_counts(db) == {"k2": 6}
    for waba_id, value in legacy.items():
        stored = row(db, waba_id)
        assert stored["ciphertext"].startswith("v1.k2.")
        assert value.reveal() not in stored["ciphertext"]
        assert load_token(db, cipher, waba_id) == value
    assert encrypt_legacy_batch(db, cipher, 2) == 0


def test_rotation_leaves_legacy_rows_to_encrypt_legacy(db: Db, cipher: TokenCipher):
    insert_legacy(db, waba(), token())

    assert rotate_batch(db, cipher, 10) == 0
    assert token_key_counts(db) == {None: 1}


def test_status_counts_name_every_status(db: Db, cipher: TokenCipher):
    for status in (TokenStatus.VALID, TokenStatus.VALID, TokenStatus.CRITICAL):
        waba_id = waba()
        save_token(db, cipher, waba_id, token())
        record_health(db, waba_id, TokenHealth(status))
    save_token(db, cipher, waba(), token())

    assert token_status_counts(db) == {
        "unchecked": 1, "valid": 2, "expiring_soon": 0, "critical": 1, "invalid": 0,
        "undecryptable": 0,
    }  # fmt: skip


def test_tokens_for_check_are_every_token_or_one_organizations(db: Db, cipher: TokenCipher):
    acme, globex, orphan, unconnected = sorted(waba() for _ in range(4))
    for waba_id in (acme, globex, orphan, unconnected):
        save_token(db, cipher, waba_id, token())
    add_connection(db, acme, "acme")
    add_connection(db, globex, "globex")
    add_connection(db, orphan, None)

    assert tokens_for_check(db) == [acme, globex, orphan, unconnected]
    assert tokens_for_check(db, "acme") == [acme]
    assert tokens_for_check(db, "nobody") == []


def test_stored_rows_never_show_the_ciphertext_in_their_repr(db: Db, old_cipher: TokenCipher):
    waba_id = waba()
    save_token(db, old_cipher, waba_id, token())
    with db.transaction():
        (stored,) = tokens_to_rotate(db, "k2", 1)

    assert stored.ciphertext not in repr(stored)
    assert waba_id in repr(stored)
