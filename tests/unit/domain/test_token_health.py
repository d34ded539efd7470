"""Token health: two configurable thresholds, never-expiring tokens, scopes (SPEC §9, §15.4/11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.graph import REQUIRED_SCOPES, TokenInfo
from domain.token_health import TokenHealth, TokenStatus, token_health

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def info(
    *,
    expires_in: timedelta | None = None,
    is_valid: bool = True,
    scopes: frozenset[str] = REQUIRED_SCOPES,
) -> TokenInfo:
    return TokenInfo(
        is_valid=is_valid,
        expires_at=None if expires_in is None else NOW + expires_in,
        scopes=scopes,
    )


def health_of(token: TokenInfo | None, *, warn_days: int = 30, critical_days: int = 7):
    return token_health(token, now=NOW, warn_days=warn_days, critical_days=critical_days)


def test_a_token_that_never_expires_is_valid():
    health = health_of(info(expires_in=None))

    assert health.status is TokenStatus.VALID
    assert health.expires_at is None
    assert health.reason == "never expires"
    assert not health.reconnect_required


def test_a_token_expiring_in_sixty_days_is_valid_and_keeps_its_expiry_and_scopes():
    health = health_of(info(expires_in=timedelta(days=60)))

    assert health.status is TokenStatus.VALID
    assert health.expires_at == NOW + timedelta(days=60)
    assert health.scopes == REQUIRED_SCOPES


@pytest.mark.parametrize(
    ("expires_in", "status"),
    [
        (timedelta(days=30) + TICK, TokenStatus.VALID),
        (timedelta(days=30), TokenStatus.VALID),  # exactly warn_days away: not "less than"
        (timedelta(days=30) - TICK, TokenStatus.EXPIRING_SOON),
        (timedelta(days=8), TokenStatus.EXPIRING_SOON),
        (timedelta(days=7), TokenStatus.EXPIRING_SOON),  # exactly critical_days away
        (timedelta(days=7) - TICK, TokenStatus.CRITICAL),
        (timedelta(hours=1), TokenStatus.CRITICAL),
        (TICK, TokenStatus.CRITICAL),
        (timedelta(0), TokenStatus.INVALID),  # expires this instant: expired
        (-timedelta(days=1), TokenStatus.INVALID),
    ],
)
def test_the_thresholds_are_exact(expires_in: timedelta, status: TokenStatus):
    assert health_of(info(expires_in=expires_in)).status is status


def test_a_token_expiring_in_twenty_days_warns_although_it_is_not_yet_critical():
    """The seed alerted "30 days before" but only looked 7 days ahead."""
    health = health_of(info(expires_in=timedelta(days=20)))

    assert health.status is TokenStatus.EXPIRING_SOON
    assert "30 days" in (health.reason or "")
    assert not health.reconnect_required


def test_both_thresholds_are_configurable():
    in_ten_days = info(expires_in=timedelta(days=10))

    assert health_of(in_ten_days, warn_days=14, critical_days=3).status is TokenStatus.EXPIRING_SOON
    assert health_of(in_ten_days, warn_days=60, critical_days=14).status is TokenStatus.CRITICAL
    assert health_of(in_ten_days, warn_days=5, critical_days=2).status is TokenStatus.VALID
    assert health_of(in_ten_days, warn_days=10, critical_days=10).status is TokenStatus.VALID


def test_a_critical_threshold_of_zero_never_reports_critical():
    health = health_of(info(expires_in=TICK), warn_days=30, critical_days=0)

    assert health.status is TokenStatus.EXPIRING_SOON


def test_a_token_debug_token_calls_invalid_is_invalid_whatever_its_expiry():
    health = health_of(info(expires_in=None, is_valid=False))

    assert health.status is TokenStatus.INVALID
    assert "invalid" in (health.reason or "")
    assert health.reconnect_required


def test_an_expired_token_is_invalid_and_says_when_it_expired():
    health = health_of(info(expires_in=-timedelta(hours=2)))

    assert health.status is TokenStatus.INVALID
    assert health.reason == f"expired at {(NOW - timedelta(hours=2)).isoformat()}"


def test_a_missing_required_scope_makes_the_token_invalid_and_is_named():
    health = health_of(info(scopes=frozenset({"whatsapp_business_management", "email"})))

    assert health.status is TokenStatus.INVALID
    assert health.reason == "missing scopes: whatsapp_business_messaging"


def test_every_missing_scope_is_named_in_order():
    health = health_of(info(scopes=frozenset()))

    assert health.reason == "missing scopes: " + ", ".join(sorted(REQUIRED_SCOPES))


def test_extra_scopes_do_no_harm():
    health = health_of(info(scopes=REQUIRED_SCOPES | {"business_management"}))

    assert health.status is TokenStatus.VALID


def test_no_debug_token_answer_means_unchecked():
    health = health_of(None)

    assert health.status is TokenStatus.UNCHECKED
    assert not health.reconnect_required


@pytest.mark.parametrize(
    ("status", "reconnect"),
    [
        (TokenStatus.UNCHECKED, False),
        (TokenStatus.VALID, False),
        (TokenStatus.EXPIRING_SOON, False),
        (TokenStatus.CRITICAL, True),
        (TokenStatus.INVALID, True),
        (TokenStatus.UNDECRYPTABLE, True),
    ],
)
def test_reconnect_is_required_for_critical_invalid_and_undecryptable_tokens(
    status: TokenStatus, reconnect: bool
):
    assert TokenHealth(status).reconnect_required is reconnect


def test_an_undecryptable_health_carries_the_reason():
    health = TokenHealth.undecryptable("token key 'k9' is not among the configured token keys")

    assert health.status is TokenStatus.UNDECRYPTABLE
    assert health.reason == "token key 'k9' is not among the configured token keys"
    assert health.reconnect_required


def test_the_statuses_are_the_database_and_api_names():
    assert [status.value for status in TokenStatus] == [
        "unchecked", "valid", "expiring_soon", "critical", "invalid", "undecryptable",
    ]  # fmt: skip


@pytest.mark.parametrize(("warn", "critical"), [(7, 30), (-1, -1), (30, -1)])
def test_thresholds_out_of_order_are_refused(warn: int, critical: int):
    with pytest.raises(ValueError, match="critical_days"):
        health_of(info(), warn_days=warn, critical_days=critical)


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        token_health(info(), now=NOW.replace(tzinfo=None), warn_days=30, critical_days=7)
