"""The form of a presented key: ``wpk_<ak_ + 12 hex>_<43 base64url characters>``."""

from __future__ import annotations

import pytest

from adapters.api_keys import ApiPrincipal, KeyScope, parse_api_key

SECRET = "Zm9vYmFyYmF6cXV4X19fLS0tZm9vYmFyYmF6cXV4X1w"  # 43 base64url characters


def test_a_key_splits_into_its_id_and_secret():
    parsed = parse_api_key(f"wpk_ak_0123456789ab_{SECRET}")

    assert parsed is not None
    assert parsed.id == "ak_0123456789ab"
    assert str(parsed.secret) == SECRET


def test_the_secret_of_a_parsed_key_is_masked_in_its_repr():
    parsed = parse_api_key(f"wpk_ak_0123456789ab_{SECRET}")

    assert SECRET not in repr(parsed)


def test_a_secret_may_hold_the_separator_and_dashes():
    secret = "_-" + SECRET[2:]

    parsed = parse_api_key(f"wpk_ak_0123456789ab_{secret}")

    assert parsed is not None
    assert (parsed.id, str(parsed.secret)) == ("ak_0123456789ab", secret)


@pytest.mark.parametrize(
    "presented",
    [
        "",
        SECRET,
        f"ak_0123456789ab_{SECRET}",  # no prefix
        f"wpk_ak_0123456789AB_{SECRET}",  # upper-case hex
        f"wpk_ak_0123456789a_{SECRET}",  # short id
        f"wpk_ak_0123456789ab_{SECRET[:-1]}",  # short secret
        f"wpk_ak_0123456789ab_{SECRET}A",  # long secret
        f"wpk_ak_0123456789ab_{SECRET[:-1]}=",  # padding
        f"wpk_ak_0123456789ab_{SECRET}\n",
        f" wpk_ak_0123456789ab_{SECRET}",
    ],
)
def test_anything_else_is_not_a_key(presented: str):
    assert parse_api_key(presented) is None


def test_an_organization_principal_may_access_only_its_organization():
    principal = ApiPrincipal("ak_0123456789ab", KeyScope.ORGANIZATION, "acme", None)

    assert principal.may_access("acme")
    assert not principal.may_access("Acme")
    assert not principal.may_access("")
    assert not principal.is_admin
