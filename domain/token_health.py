"""How healthy a business token is, from what ``debug_token`` says and the time now.

Two thresholds, both configurable (``WAPIPE_TOKEN_WARN_DAYS``, ``WAPIPE_TOKEN_CRITICAL_DAYS``;
SPEC §3, §9): a token that expires in less than ``warn_days`` is ``expiring_soon``, in less
than ``critical_days`` ``critical``. Embedded Signup tokens may never expire (Meta reports
``expires_at: 0``, ``TokenInfo.expires_at`` None): those are ``valid`` for as long as Meta
says they are. Meta offers no refresh, so critical, invalid and undecryptable tokens surface
as "reconnect required" (SPEC §16).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.graph import REQUIRED_SCOPES, TokenInfo


class TokenStatus(StrEnum):
    UNCHECKED = "unchecked"  # stored, never checked
    VALID = "valid"
    EXPIRING_SOON = "expiring_soon"  # expires in less than warn_days
    CRITICAL = "critical"  # expires in less than critical_days
    INVALID = "invalid"  # not valid, expired, or a required scope is missing
    UNDECRYPTABLE = "undecryptable"  # the stored ciphertext cannot be decrypted


#: The statuses whose connections must be reconnected by the customer.
RECONNECT_STATUSES = frozenset(
    {TokenStatus.CRITICAL, TokenStatus.INVALID, TokenStatus.UNDECRYPTABLE}
)


@dataclass(frozen=True, slots=True)
class TokenHealth:
    """A token's status with a human reason; never holds the token."""

    status: TokenStatus
    reason: str | None = None
    #: None: never expires, or not known (unchecked, undecryptable).
    expires_at: datetime | None = None
    #: The scopes ``debug_token`` reported; None when the token was not looked at.
    scopes: frozenset[str] | None = None

    @property
    def reconnect_required(self) -> bool:
        return self.status in RECONNECT_STATUSES

    @classmethod
    def undecryptable(cls, reason: str) -> TokenHealth:
        """The health of a token whose ciphertext failed to decrypt (``reason`` says why)."""
        return cls(TokenStatus.UNDECRYPTABLE, reason)


def token_health(
    info: TokenInfo | None, *, now: datetime, warn_days: int, critical_days: int
) -> TokenHealth:
    """Classify ``info`` (None: never checked) at ``now`` (timezone-aware).

    Raises:
        ValueError: ``now`` is naive, or the thresholds are negative or out of order.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not 0 <= critical_days <= warn_days:
        raise ValueError("expected 0 <= critical_days <= warn_days")
    if info is None:
        return TokenHealth(TokenStatus.UNCHECKED, "never checked")
    problem = _invalidity(info, now)
    if problem is not None:
        return TokenHealth(TokenStatus.INVALID, problem, info.expires_at, info.scopes)
    status, reason = _expiry(info.expires_at, now, warn_days, critical_days)
    return TokenHealth(status, reason, info.expires_at, info.scopes)


def _invalidity(info: TokenInfo, now: datetime) -> str | None:
    """Why the token cannot be used at all; None when it can."""
    if not info.is_valid:
        return "debug_token reports the token invalid"
    if info.expires_at is not None and info.expires_at <= now:
        return f"expired at {info.expires_at.isoformat()}"
    missing = REQUIRED_SCOPES - info.scopes
    if missing:
        return "missing scopes: " + ", ".join(sorted(missing))
    return None


def _expiry(
    expires_at: datetime | None, now: datetime, warn_days: int, critical_days: int
) -> tuple[TokenStatus, str]:
    if expires_at is None:
        return TokenStatus.VALID, "never expires"
    left = expires_at - now
    until = f"expires at {expires_at.isoformat()}"
    if left < timedelta(days=critical_days):
        return TokenStatus.CRITICAL, f"{until}, in less than {critical_days} days"
    if left < timedelta(days=warn_days):
        return TokenStatus.EXPIRING_SOON, f"{until}, in less than {warn_days} days"
    return TokenStatus.VALID, until
