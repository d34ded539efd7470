"""Business tokens in Postgres (``business_token``), encrypted by ``domain.token_crypto``.

Every ciphertext is bound to its row: the associated data is ``token_owner(waba_id)``, so a
ciphertext copied to another WABA's row is undecryptable there. A row whose token cannot be
decrypted is marked ``undecryptable`` (SPEC §13) in the caller's transaction.

Rotation (``rotate_batch``) and the legacy migration (``encrypt_legacy_batch``) work in
batches, each its own transaction over rows taken ``FOR UPDATE SKIP LOCKED``: a run stopped
halfway leaves every row either old or new, the next run picks up what is left, two runs at
once never take the same row, and a run with nothing left to do changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import pq

from adapters.postgres import Conn
from domain.errors import PermanentError, TokenUndecryptable
from domain.graph import AccessToken
from domain.token_crypto import TokenCipher, is_encrypted
from domain.token_health import TokenHealth, TokenStatus

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100

_UPSERT = """
INSERT INTO business_token (waba_id, ciphertext, key_id)
VALUES (%s, %s, %s)
ON CONFLICT (waba_id) DO UPDATE
   SET ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id,
       status = 'unchecked', reason = NULL, expires_at = NULL, scopes = NULL,
       checked_at = NULL, updated_at = now()
"""
_LOAD = "SELECT ciphertext FROM business_token WHERE waba_id = %s"
_LOAD_LOCKED = _LOAD + " FOR UPDATE"
_MARK_UNDECRYPTABLE = """
UPDATE business_token SET status = 'undecryptable', reason = %s, updated_at = now()
 WHERE waba_id = %s
"""
_RECORD_HEALTH = """
UPDATE business_token
   SET status = %s, reason = %s, expires_at = %s, scopes = %s,
       checked_at = coalesce(%s, now()), updated_at = now()
 WHERE waba_id = %s
"""
# Rows that failed before come last: every row that can be rotated is, before any retry.
_TO_ROTATE = """
SELECT waba_id, ciphertext, key_id
  FROM business_token
 WHERE key_id <> %s AND waba_id <> ALL(%s)
 ORDER BY status = 'undecryptable', waba_id
 LIMIT %s
   FOR UPDATE SKIP LOCKED
"""
_LEGACY = """
SELECT waba_id, ciphertext, key_id
  FROM business_token
 WHERE key_id IS NULL
 ORDER BY waba_id
 LIMIT %s
   FOR UPDATE SKIP LOCKED
"""
# A row that decrypts again (its key came back) is no longer known to be undecryptable.
_REENCRYPT = """
UPDATE business_token
   SET ciphertext = %s, key_id = %s, updated_at = now(),
       reason = CASE WHEN status = 'undecryptable' THEN NULL ELSE reason END,
       status = CASE WHEN status = 'undecryptable' THEN 'unchecked' ELSE status END
 WHERE waba_id = %s
"""
_STATUS_COUNTS = "SELECT status, count(*) FROM business_token GROUP BY status"
_KEY_COUNTS = "SELECT key_id, count(*) FROM business_token GROUP BY key_id"
_FOR_CHECK = "SELECT waba_id FROM business_token ORDER BY waba_id"
_FOR_CHECK_IN_ORG = """
SELECT t.waba_id
  FROM business_token t
  JOIN connection c ON c.waba_id = t.waba_id
 WHERE c.organization_id = %s
 ORDER BY t.waba_id
"""


class TokenNotFound(PermanentError, LookupError):
    """No token is stored for the WABA (a ``LookupError``, as ``domain.ports.TokenRepo`` says)."""

    reason = "token_not_found"


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A row as stored: the ciphertext (or a legacy plaintext: never log ``ciphertext``)."""

    waba_id: str
    ciphertext: str
    key_id: str | None

    def __repr__(self) -> str:
        return f"StoredToken(waba_id={self.waba_id!r}, key_id={self.key_id!r})"


def token_owner(waba_id: str) -> str:
    """The associated data of a WABA's token: the identity of the row that holds it."""
    return f"business_token:{waba_id}"


def save_token(conn: Conn, cipher: TokenCipher, waba_id: str, token: AccessToken) -> None:
    """Store the WABA's token under the first key, replacing any earlier one (unchecked)."""
    conn.execute(_UPSERT, (waba_id, cipher.encrypt(token, token_owner(waba_id)), cipher.first_kid))


def load_token(conn: Conn, cipher: TokenCipher, waba_id: str, *, lock: bool = False) -> AccessToken:
    """The WABA's token, decrypted; ``lock`` takes the row ``FOR UPDATE``.

    A legacy plaintext row is returned as it is (with a warning) until
    ``wapipe tokens encrypt-legacy`` encrypts it.

    Raises:
        TokenNotFound: no token is stored for ``waba_id``.
        TokenUndecryptable: the ciphertext cannot be decrypted; the row is marked
            ``undecryptable`` in the caller's transaction, which must commit to keep the mark.
    """
    row = conn.execute(_LOAD_LOCKED if lock else _LOAD, (waba_id,)).fetchone()
    if row is None:
        raise TokenNotFound(f"no token stored for WABA {waba_id}")
    stored: str = row[0]
    if not is_encrypted(stored):
        log.warning("token of WABA %s is stored in plaintext", waba_id, extra={"waba_id": waba_id})
        return AccessToken(stored)
    try:
        return cipher.decrypt(stored, token_owner(waba_id))
    except TokenUndecryptable as error:
        conn.execute(_MARK_UNDECRYPTABLE, (str(error), waba_id))
        log.warning(
            "token of WABA %s is undecryptable: %s", waba_id, error, extra={"waba_id": waba_id}
        )
        raise


def record_health(
    conn: Conn, waba_id: str, health: TokenHealth, *, checked_at: datetime | None = None
) -> bool:
    """Store a health check's outcome (``checked_at`` defaults to the database's now).

    Every field of ``health`` is written: an undecryptable health clears expiry and scopes.

    Returns False when no token is stored for ``waba_id``.
    """
    scopes = None if health.scopes is None else sorted(health.scopes)
    params = (health.status.value, health.reason, health.expires_at, scopes, checked_at, waba_id)
    return conn.execute(_RECORD_HEALTH, params).rowcount == 1


def tokens_to_rotate(
    conn: Conn, first_kid: str, limit: int, *, skip: Sequence[str] = ()
) -> list[StoredToken]:
    """Up to ``limit`` rows encrypted under another key than ``first_kid``, locked (SKIP LOCKED).

    Legacy plaintext rows are not among them (``encrypt_legacy_batch``); ``skip`` leaves out
    WABAs already tried. Call inside a transaction: the locks last until it ends.
    """
    rows = conn.execute(_TO_ROTATE, (first_kid, list(skip), limit)).fetchall()
    return [StoredToken(*row) for row in rows]


def _require_idle(conn: Conn, what: str) -> None:
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError(f"{what} needs a connection with no transaction open")


def rotate_batch(conn: Conn, cipher: TokenCipher, limit: int = DEFAULT_BATCH_SIZE) -> int:
    """Re-encrypt up to ``limit`` tokens under the first key, in one transaction; how many.

    A token that does not decrypt (its key is gone, or the ciphertext is damaged) is marked
    ``undecryptable`` and stays as it is; it is tried again by the next call, after the
    others. 0 means nothing is left that can be rotated (or the rest is locked by another
    run).

    Raises:
        RuntimeError: ``conn`` has a transaction open (each batch must commit on its own).
    """
    _require_idle(conn, "rotate_batch")
    failed: list[str] = []
    with conn.transaction():
        while True:
            rows = tokens_to_rotate(conn, cipher.first_kid, limit, skip=failed)
            if not rows:
                return 0
            rotated = 0
            for row in rows:
                owner = token_owner(row.waba_id)
                try:
                    token = cipher.decrypt(row.ciphertext, owner)
                except TokenUndecryptable as error:
                    conn.execute(_MARK_UNDECRYPTABLE, (str(error), row.waba_id))
                    log.warning(
                        "token of WABA %s not rotated: %s",
                        row.waba_id,
                        error,
                        extra={"waba_id": row.waba_id},
                    )
                    failed.append(row.waba_id)
                    continue
                conn.execute(
                    _REENCRYPT, (cipher.encrypt(token, owner), cipher.first_kid, row.waba_id)
                )
                rotated += 1
            if rotated:
                return rotated


def encrypt_legacy_batch(conn: Conn, cipher: TokenCipher, limit: int = DEFAULT_BATCH_SIZE) -> int:
    """Encrypt up to ``limit`` legacy plaintext tokens under the first key; how many (0: done).

    Raises:
        RuntimeError: ``conn`` has a transaction open (each batch must commit on its own).
    """
    _require_idle(conn, "encrypt_legacy_batch")
    with conn.transaction():
        rows = [StoredToken(*row) for row in conn.execute(_LEGACY, (limit,)).fetchall()]
        for row in rows:
            ciphertext = cipher.encrypt(AccessToken(row.ciphertext), token_owner(row.waba_id))
            conn.execute(_REENCRYPT, (ciphertext, cipher.first_kid, row.waba_id))
    return len(rows)


def token_status_counts(conn: Conn) -> dict[str, int]:
    """Tokens per status, every status present (0 included): the ``wapipe_tokens`` gauge."""
    counts = dict.fromkeys((status.value for status in TokenStatus), 0)
    counts.update({status: int(count) for status, count in conn.execute(_STATUS_COUNTS)})
    return counts


def token_key_counts(conn: Conn) -> dict[str | None, int]:
    """Tokens per key id (None: legacy plaintext); what rotation has left to do."""
    return {kid: int(count) for kid, count in conn.execute(_KEY_COUNTS)}


def tokens_for_check(conn: Conn, organization_id: str | None = None) -> list[str]:
    """The WABAs whose tokens a health check covers: every one, or one organization's."""
    query = _FOR_CHECK if organization_id is None else _FOR_CHECK_IN_ORG
    params = () if organization_id is None else (organization_id,)
    return [row[0] for row in conn.execute(query, params)]
