"""Onboarding rows as the API reads and writes them (``onboarding``, SPEC §7.1–7.2).

The completion job's side (steps, completion) is ``adapters.connection_repos``'s
``PgOnboardingRepo``; this module holds what the SaaS's requests do: create an onboarding,
read it, and record the Embedded Signup session. Every statement joins the caller's
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.postgres import Conn

_COLUMNS = "tracking_code, organization_id, status, waba_id, expires_at"

_INSERT = f"""
INSERT INTO onboarding (tracking_code, organization_id, expires_at)
VALUES (%s, %s, now() + %s)
RETURNING {_COLUMNS}
"""
_SELECT = f"SELECT {_COLUMNS} FROM onboarding WHERE tracking_code = %s"
# Only a pending onboarding takes a session: a second session for the same code changes
# nothing (the caller has already refused it under the row lock).
_RECORD_SESSION = """
UPDATE onboarding
   SET status = 'session_received', waba_id = %(waba_id)s, business_id = %(business_id)s,
       phone_number_id = %(phone_number_id)s, signup_event = %(signup_event)s,
       session_at = now(), error = NULL, updated_at = now()
 WHERE tracking_code = %(tracking_code)s AND status = 'pending'
"""


@dataclass(frozen=True, slots=True)
class OnboardingRecord:
    """An onboarding as the SaaS sees it (SPEC §8)."""

    tracking_code: str
    organization_id: str
    status: str
    waba_id: str | None
    expires_at: datetime


def _record(row: Any) -> OnboardingRecord:
    return OnboardingRecord(*row)


def insert_onboarding(
    conn: Conn, tracking_code: str, organization_id: str, ttl: timedelta
) -> OnboardingRecord:
    """A new pending onboarding that expires ``ttl`` after the database's now."""
    row = conn.execute(_INSERT, (tracking_code, organization_id, ttl)).fetchone()
    assert row is not None  # RETURNING always yields the inserted row
    return _record(row)


def load_onboarding(
    conn: Conn, tracking_code: str, *, lock: bool = False
) -> OnboardingRecord | None:
    """The onboarding, or None; ``lock`` takes the row ``FOR UPDATE``."""
    row = conn.execute(_SELECT + (" FOR UPDATE" if lock else ""), (tracking_code,)).fetchone()
    return _record(row) if row else None


def record_session(
    conn: Conn,
    tracking_code: str,
    *,
    waba_id: str,
    business_id: str | None,
    phone_number_id: str | None,
    signup_event: str | None,
) -> bool:
    """Mark a pending onboarding ``session_received`` with what the session reported;
    False when it was not pending."""
    cursor = conn.execute(
        _RECORD_SESSION,
        {
            "tracking_code": tracking_code,
            "waba_id": waba_id,
            "business_id": business_id,
            "phone_number_id": phone_number_id,
            "signup_event": signup_event,
        },
    )
    return cursor.rowcount == 1
