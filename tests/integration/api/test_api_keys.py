"""``adapters.api_keys`` on the real database: stored as a hash, checked in constant time."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from adapters.api_keys import (
    KeyScope,
    authenticate,
    create_api_key,
    list_api_keys,
    parse_api_key,
    revoke_api_key,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def aconn(
    database_url: str, db: psycopg.Connection[Any]
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn


async def test_a_created_key_authenticates_as_its_organization(
    db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
):
    created = create_api_key(
        db, scope=KeyScope.ORGANIZATION, organization_id="acme", name="backend"
    )

    principal = await authenticate(aconn, str(created.key))

    assert principal is not None
    assert (principal.key_id, principal.scope, principal.organization_id, principal.name) == (
        created.id,
        KeyScope.ORGANIZATION,
        "acme",
        "backend",
    )
    assert principal.may_access("acme")
    assert not principal.may_access("globex")


async def test_an_admin_key_may_access_every_organization(
    db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
):
    created = create_api_key(db, scope=KeyScope.ADMIN, organization_id=None, name=None)

    principal = await authenticate(aconn, str(created.key))

    assert principal is not None
    assert principal.is_admin
    assert principal.may_access("any-organization")


def test_only_the_sha256_of_the_secret_is_stored(db: psycopg.Connection[Any]):
    created = create_api_key(db, scope=KeyScope.ADMIN, organization_id=None, name=None)
    parsed = parse_api_key(str(created.key))
    assert parsed is not None

    row = db.execute(
        "SELECT key_hash, id, scope, organization_id, name FROM api_key WHERE id = %s",
        (created.id,),
    ).fetchone()

    assert row is not None
    assert bytes(row[0]) == hashlib.sha256(str(parsed.secret).encode()).digest()
    assert not any(str(parsed.secret) in str(value) for value in row)


def test_a_created_key_never_shows_in_its_repr(db: psycopg.Connection[Any]):
    created = create_api_key(
        db, scope=KeyScope.ORGANIZATION, organization_id="acme", name="backend"
    )
    parsed = parse_api_key(str(created.key))
    assert parsed is not None

    assert str(created.key) not in repr(created)
    assert str(parsed.secret) not in repr(created)
    assert str(parsed.secret) not in repr(parsed)


def test_every_key_is_different(db: psycopg.Connection[Any]):
    keys = {
        str(create_api_key(db, scope=KeyScope.ADMIN, organization_id=None, name=None).key)
        for _ in range(20)
    }

    assert len(keys) == 20


async def test_a_revoked_key_no_longer_authenticates(
    db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
):
    created = create_api_key(db, scope=KeyScope.ADMIN, organization_id=None, name=None)

    assert revoke_api_key(db, created.id)

    assert await authenticate(aconn, str(created.key)) is None


def test_revoking_twice_keeps_the_first_revocation_time(db: psycopg.Connection[Any]):
    created = create_api_key(db, scope=KeyScope.ADMIN, organization_id=None, name=None)
    revoke_api_key(db, created.id)
    (first,) = list_api_keys(db)

    assert revoke_api_key(db, created.id)

    (second,) = list_api_keys(db)
    assert first.revoked_at is not None
    assert second.revoked_at == first.revoked_at


def test_revoking_an_unknown_id_says_so(db: psycopg.Connection[Any]):
    assert revoke_api_key(db, "ak_0123456789ab") is False


async def test_a_key_whose_secret_was_altered_does_not_authenticate(
    db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
):
    key = str(create_api_key(db, scope=KeyScope.ADMIN, organization_id=None, name=None).key)
    altered = key[:-1] + ("A" if key[-1] != "A" else "B")

    assert await authenticate(aconn, altered) is None


async def test_a_key_presented_with_another_keys_id_does_not_authenticate(
    db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
):
    first = create_api_key(db, scope=KeyScope.ADMIN, organization_id=None, name=None)
    second = create_api_key(db, scope=KeyScope.ADMIN, organization_id=None, name=None)
    second_secret = parse_api_key(str(second.key))
    assert second_secret is not None

    spliced = f"wpk_{first.id}_{second_secret.secret}"

    assert await authenticate(aconn, spliced) is None


@pytest.mark.parametrize("presented", ["", "wpk_", "Bearer x", "wpk_ak_0123456789ab_x"])
async def test_a_malformed_key_does_not_authenticate(
    aconn: psycopg.AsyncConnection[Any], presented: str
):
    assert await authenticate(aconn, presented) is None


def test_the_database_refuses_an_organization_key_without_an_organization(
    db: psycopg.Connection[Any],
):
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO api_key (id, key_hash, scope) VALUES ('ak_0123456789ab', %s,"
            " 'organization')",
            (b"\0" * 32,),
        )


def test_the_database_refuses_an_admin_key_bound_to_an_organization(
    db: psycopg.Connection[Any],
):
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO api_key (id, key_hash, scope, organization_id)"
            " VALUES ('ak_0123456789ab', %s, 'admin', 'acme')",
            (b"\0" * 32,),
        )


@pytest.mark.parametrize(
    ("scope", "organization_id"), [(KeyScope.ORGANIZATION, None), (KeyScope.ADMIN, "acme")]
)
def test_creating_a_key_with_the_wrong_organization_for_its_scope_fails(
    db: psycopg.Connection[Any], scope: KeyScope, organization_id: str | None
):
    with pytest.raises(ValueError, match="organization"):
        create_api_key(db, scope=scope, organization_id=organization_id, name=None)

    assert list_api_keys(db) == []
