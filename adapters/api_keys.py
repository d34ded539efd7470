"""API keys: create, list, revoke (the CLI) and authenticate (the API), SPEC §8.

A key reads ``wpk_<id>_<secret>``: ``id`` is ``ak_`` + 12 hex digits, ``secret`` 32 random bytes in
unpadded base64url. Only the sha256 of the secret is stored, so the key is shown once, at
creation. The id inside the key lets authentication fetch one row and compare the hashes in
constant time. A key never appears in a log, an error or a ``repr``: it travels as a
``Secret``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from starlette.datastructures import Secret

from adapters.postgres import AsyncConn, Conn

KEY_PREFIX = "wpk_"
KEY_ID = re.compile(r"^ak_[0-9a-f]{12}$")
SECRET_BYTES = 32
#: Organizations are the SaaS's opaque ids; the CLI and the API accept the same lengths.
MAX_ORGANIZATION_ID_LENGTH = 128
_PRESENTED = re.compile(r"^wpk_(?P<id>ak_[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")

_INSERT = """
INSERT INTO api_key (id, key_hash, scope, organization_id, name)
VALUES (%s, %s, %s, %s, %s)
RETURNING created_at
"""
_LIST = """
SELECT id, scope, organization_id, name, created_at, revoked_at
  FROM api_key
 ORDER BY created_at DESC, id
"""
# coalesce: revoking twice keeps the time of the first revocation.
_REVOKE = "UPDATE api_key SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"
_LOOKUP = "SELECT key_hash, scope, organization_id, name, revoked_at FROM api_key WHERE id = %s"


class KeyScope(StrEnum):
    ADMIN = "admin"
    ORGANIZATION = "organization"


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key; ``key`` is the only copy of the secret there will ever be."""

    id: str
    key: Secret
    scope: KeyScope
    organization_id: str | None
    name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key as operators see it: never the key or its hash."""

    id: str
    scope: KeyScope
    organization_id: str | None
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """Who a valid key speaks for."""

    key_id: str
    scope: KeyScope
    organization_id: str | None
    name: str | None

    @property
    def is_admin(self) -> bool:
        return self.scope is KeyScope.ADMIN

    def may_access(self, organization_id: str) -> bool:
        """Admin keys see every organization; an organization key only its own."""
        return self.is_admin or self.organization_id == organization_id


@dataclass(frozen=True, slots=True)
class PresentedKey:
    id: str
    secret: Secret


def parse_api_key(presented: str) -> PresentedKey | None:
    """Split a presented key into id and secret; None when it is not of the key's form."""
    match = _PRESENTED.fullmatch(presented)
    if match is None:
        return None
    return PresentedKey(match["id"], Secret(match["secret"]))


def _hash(secret: Secret) -> bytes:
    return hashlib.sha256(str(secret).encode("ascii")).digest()


def create_api_key(
    conn: Conn, *, scope: KeyScope, organization_id: str | None, name: str | None
) -> CreatedKey:
    """Store a new key and return it, the secret included (the caller shows it once).

    Raises:
        ValueError: ``organization_id`` is given for an admin key or missing for an
            organization key.
    """
    if (scope is KeyScope.ORGANIZATION) != bool(organization_id):
        raise ValueError("an organization key needs an organization id; an admin key has none")
    key_id = "ak_" + secrets.token_hex(6)
    secret = Secret(
        base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()
    )
    row = conn.execute(
        _INSERT, (key_id, _hash(secret), scope.value, organization_id, name)
    ).fetchone()
    assert row is not None  # RETURNING always yields the inserted row
    return CreatedKey(
        id=key_id,
        key=Secret(f"{KEY_PREFIX}{key_id}_{secret}"),
        scope=scope,
        organization_id=organization_id,
        name=name,
        created_at=row[0],
    )


def list_api_keys(conn: Conn) -> list[ApiKey]:
    """Every key, revoked ones included, newest first."""
    return [
        ApiKey(row[0], KeyScope(row[1]), row[2], row[3], row[4], row[5])
        for row in conn.execute(_LIST).fetchall()
    ]


def revoke_api_key(conn: Conn, key_id: str) -> bool:
    """Revoke the key at once (idempotent); False when no key has this id."""
    return conn.execute(_REVOKE, (key_id,)).rowcount == 1


async def authenticate(conn: AsyncConn, presented: str) -> ApiPrincipal | None:
    """The principal of a valid key; None for a malformed, unknown or revoked one."""
    parsed = parse_api_key(presented)
    if parsed is None:
        return None
    cursor = await conn.execute(_LOOKUP, (parsed.id,))
    row = await cursor.fetchone()
    if row is None:
        return None
    key_hash, scope, organization_id, name, revoked_at = row
    if not hmac.compare_digest(bytes(key_hash), _hash(parsed.secret)) or revoked_at is not None:
        return None
    return ApiPrincipal(parsed.id, KeyScope(scope), organization_id, name)
