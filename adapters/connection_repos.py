"""SQL for connections, onboardings and phone numbers, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.postgres import Conn
from domain.ports import Connection, NumberOwner, Onboarding, PhoneNumber

_CONNECTION_COLUMNS = (
    "waba_id, organization_id, owner_business_id, status, status_reason, status_at,"
    " status_source, reconnect_reason"
)

SELECT_CONNECTION = f"SELECT {_CONNECTION_COLUMNS} FROM connection WHERE waba_id = %s"

INSERT_CONNECTION = f"""
INSERT INTO connection ({_CONNECTION_COLUMNS})
VALUES (%(waba_id)s, %(organization_id)s, %(owner_business_id)s, %(status)s, %(status_reason)s,
        %(status_at)s, %(status_source)s, %(reconnect_reason)s)
ON CONFLICT (waba_id) DO NOTHING
RETURNING waba_id
"""

UPDATE_CONNECTION = """
UPDATE connection
   SET organization_id = %(organization_id)s, owner_business_id = %(owner_business_id)s,
       status = %(status)s, status_reason = %(status_reason)s, status_at = %(status_at)s,
       status_source = %(status_source)s, reconnect_reason = %(reconnect_reason)s,
       updated_at = now()
 WHERE waba_id = %(waba_id)s
"""

ORGANIZATION_OF_BUSINESS = """
SELECT organization_id FROM connection
 WHERE owner_business_id = %s AND organization_id IS NOT NULL
 ORDER BY waba_id LIMIT 1
"""

ORGANIZATION_FOR_TRACKING_CODE = "SELECT organization_id FROM onboarding WHERE tracking_code = %s"

ORGANIZATION_FOR_WABA = """
SELECT organization_id FROM onboarding
 WHERE waba_id = %s AND status IN ('session_received', 'completed')
 ORDER BY created_at DESC LIMIT 1
"""

_PHONE_COLUMNS = "phone_number_id, waba_id, display_phone_number, status, coexistence"

SELECT_PHONE = f"SELECT {_PHONE_COLUMNS} FROM phone_number WHERE phone_number_id = %s"

PHONES_OF_WABA = f"SELECT {_PHONE_COLUMNS} FROM phone_number WHERE waba_id = %s ORDER BY 1"

SAVE_PHONE = """
INSERT INTO phone_number (phone_number_id, waba_id, display_phone_number, status, coexistence)
VALUES (%(id)s, %(waba_id)s, %(display)s, %(status)s, %(coexistence)s)
ON CONFLICT (phone_number_id) DO UPDATE
   SET waba_id = EXCLUDED.waba_id,
       display_phone_number = COALESCE(EXCLUDED.display_phone_number,
                                       phone_number.display_phone_number),
       status = EXCLUDED.status, coexistence = EXCLUDED.coexistence, updated_at = now()
"""

OWNER_OF_PHONE = f"""
SELECT {", ".join("p." + c for c in _PHONE_COLUMNS.split(", "))}, c.organization_id
  FROM phone_number p
  LEFT JOIN connection c ON c.waba_id = p.waba_id
 WHERE p.phone_number_id = %s
"""

ACTIVATION_STEP = "SELECT activation_step FROM phone_number WHERE phone_number_id = %s"

SET_ACTIVATION_STEP = """
UPDATE phone_number SET activation_step = %s, updated_at = now() WHERE phone_number_id = %s
"""

_ONBOARDING_COLUMNS = (
    "tracking_code, organization_id, status, waba_id, business_id, phone_number_id,"
    " signup_event, step, expires_at"
)

LOCK_ONBOARDING = (
    f"SELECT {_ONBOARDING_COLUMNS} FROM onboarding WHERE tracking_code = %s FOR UPDATE"
)

SET_ONBOARDING_STEP = """
UPDATE onboarding SET step = %s, error = %s, updated_at = now() WHERE tracking_code = %s
"""

COMPLETE_ONBOARDING = """
UPDATE onboarding SET status = 'completed', completed_at = %s, error = NULL, updated_at = now()
 WHERE tracking_code = %s
"""

SIGNUP_EVENT_FOR_WABA = """
SELECT signup_event FROM onboarding
 WHERE waba_id = %s AND session_at IS NOT NULL
 ORDER BY session_at DESC LIMIT 1
"""

INSERT_PHONE = """
INSERT INTO phone_number (phone_number_id, waba_id, display_phone_number, status, coexistence)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (phone_number_id) DO NOTHING
"""

NOTE_INBOUND = """
UPDATE phone_number SET last_inbound_at = %(at)s
 WHERE phone_number_id = %(id)s AND (last_inbound_at IS NULL OR last_inbound_at < %(at)s)
"""


def _connection(row: Any) -> Connection:
    return Connection(*row)


def _params(connection: Connection) -> dict[str, Any]:
    return {
        "waba_id": connection.waba_id,
        "organization_id": connection.organization_id,
        "owner_business_id": connection.owner_business_id,
        "status": connection.status,
        "status_reason": connection.status_reason,
        "status_at": connection.status_at,
        "status_source": connection.status_source,
        "reconnect_reason": connection.reconnect_reason,
    }


class PgConnectionRepo:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def get(self, waba_id: str) -> Connection | None:
        row = self._conn.execute(SELECT_CONNECTION, (waba_id,)).fetchone()
        return _connection(row) if row else None

    def get_for_update(self, waba_id: str) -> Connection | None:
        row = self._conn.execute(SELECT_CONNECTION + " FOR UPDATE", (waba_id,)).fetchone()
        return _connection(row) if row else None

    def insert(self, connection: Connection) -> bool:
        return self._conn.execute(INSERT_CONNECTION, _params(connection)).fetchone() is not None

    def update(self, connection: Connection) -> None:
        self._conn.execute(UPDATE_CONNECTION, _params(connection))

    def organization_of_business(self, owner_business_id: str) -> str | None:
        row = self._conn.execute(ORGANIZATION_OF_BUSINESS, (owner_business_id,)).fetchone()
        return str(row[0]) if row else None


class PgOnboardingRepo:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def organization_for_tracking_code(self, tracking_code: str) -> str | None:
        row = self._conn.execute(ORGANIZATION_FOR_TRACKING_CODE, (tracking_code,)).fetchone()
        return str(row[0]) if row else None

    def organization_for_waba(self, waba_id: str) -> str | None:
        row = self._conn.execute(ORGANIZATION_FOR_WABA, (waba_id,)).fetchone()
        return str(row[0]) if row else None

    def get_for_update(self, tracking_code: str) -> Onboarding | None:
        row = self._conn.execute(LOCK_ONBOARDING, (tracking_code,)).fetchone()
        return Onboarding(*row) if row else None

    def set_step(self, tracking_code: str, step: str, *, error: str | None = None) -> None:
        self._conn.execute(SET_ONBOARDING_STEP, (step, error, tracking_code))

    def complete(self, tracking_code: str, at: datetime) -> None:
        self._conn.execute(COMPLETE_ONBOARDING, (at, tracking_code))

    def signup_event_for_waba(self, waba_id: str) -> str | None:
        row = self._conn.execute(SIGNUP_EVENT_FOR_WABA, (waba_id,)).fetchone()
        return row[0] if row else None


class PgPhoneNumberRepo:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def get(self, phone_number_id: str) -> PhoneNumber | None:
        row = self._conn.execute(SELECT_PHONE, (phone_number_id,)).fetchone()
        return PhoneNumber(*row) if row else None

    def add(self, phone: PhoneNumber) -> None:
        self._conn.execute(
            INSERT_PHONE,
            (
                phone.phone_number_id,
                phone.waba_id,
                phone.display_phone_number,
                phone.status,
                phone.coexistence,
            ),
        )

    def note_inbound(self, phone_number_id: str, at: datetime) -> None:
        self._conn.execute(NOTE_INBOUND, {"id": phone_number_id, "at": at})

    def owner_of(self, phone_number_id: str) -> NumberOwner | None:
        row = self._conn.execute(OWNER_OF_PHONE, (phone_number_id,)).fetchone()
        return NumberOwner(PhoneNumber(*row[:-1]), row[-1]) if row else None

    def save(self, phone: PhoneNumber) -> None:
        self._conn.execute(
            SAVE_PHONE,
            {
                "id": phone.phone_number_id,
                "waba_id": phone.waba_id,
                "display": phone.display_phone_number,
                "status": phone.status,
                "coexistence": phone.coexistence,
            },
        )

    def list_for_waba(self, waba_id: str) -> list[PhoneNumber]:
        return [PhoneNumber(*row) for row in self._conn.execute(PHONES_OF_WABA, (waba_id,))]

    def activation_step(self, phone_number_id: str) -> str | None:
        row = self._conn.execute(ACTIVATION_STEP, (phone_number_id,)).fetchone()
        return row[0] if row else None

    def set_activation_step(self, phone_number_id: str, step: str) -> None:
        self._conn.execute(SET_ACTIVATION_STEP, (step, phone_number_id))
