"""Onboardings (SPEC §7): create one, read it, record its Embedded Signup session, and let
the SaaS choose the number of a WABA that has several.

``organization`` parameters say whom the caller acts for: an organization key's organization,
or None for an admin. Another organization's onboarding or connection is ``NotFound``, exactly
like a missing one.

The code exchange itself is not here: it is the one Graph call made inside a request (the
code dies 30 s after issue), so the API awaits it between ``check_session`` (refuse early,
before the code is spent) and ``record_session`` (which checks again under the row lock).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import dramatiq

from adapters import connection_views, onboarding_store
from adapters.connection_views import ConnectionView
from adapters.events import insert_job
from adapters.onboarding_store import OnboardingRecord
from adapters.postgres import Conn
from adapters.queue import enqueue_events
from adapters.token_store import save_token
from adapters.unit_of_work import PgUnitOfWork
from domain.connections import attach_organization, phone_selected
from domain.errors import DependencyUnavailable, WabaClaimedElsewhere
from domain.graph import AccessToken
from domain.onboarding import PHONE_CONNECTED
from domain.token_crypto import TokenCipher
from runtime.services.errors import Conflict, Expired, InvalidChoice, NotFound

log = logging.getLogger(__name__)

PENDING = "pending"
SESSION_RECEIVED = "session_received"
COMPLETED = "completed"
EXPIRED = "expired"
#: The workers' job names (``workers.jobs``; the ingress may not import workers).
COMPLETION_JOB = "onboarding_completion"
PHONE_ACTIVATION_JOB = "phone_activation"
#: 32 URL-safe characters: unguessable, and safe in a path segment.
TRACKING_CODE_BYTES = 24


@dataclass(frozen=True, slots=True)
class SessionReport:
    """What the SaaS backend posts once Embedded Signup finished (SPEC §7.2), minus the code."""

    tracking_code: str
    waba_id: str
    business_id: str | None = None
    phone_number_id: str | None = None
    event: str | None = None


def effective_status(record: OnboardingRecord, now: datetime) -> str:
    """The status as the SaaS must see it: a pending onboarding past its lifetime is expired,
    whether or not the scheduler has marked it yet."""
    if record.status == PENDING and now >= record.expires_at:
        return EXPIRED
    return record.status


def as_seen(record: OnboardingRecord, now: datetime) -> OnboardingRecord:
    """``record`` with its effective status."""
    return replace(record, status=effective_status(record, now))


def new_tracking_code() -> str:
    return secrets.token_urlsafe(TRACKING_CODE_BYTES)


def create_onboarding(conn: Conn, organization_id: str, *, ttl: timedelta) -> OnboardingRecord:
    """A new pending onboarding of ``organization_id`` that lives for ``ttl``."""
    with conn.transaction():
        return onboarding_store.insert_onboarding(conn, new_tracking_code(), organization_id, ttl)


def get_onboarding(
    conn: Conn, tracking_code: str, *, now: datetime, organization: str | None = None
) -> OnboardingRecord:
    """The onboarding with its effective status (expiry re-checked against ``now``).

    Raises:
        NotFound: no such tracking code, or another organization's.
    """
    record = onboarding_store.load_onboarding(conn, tracking_code)
    require_visible(record, organization)
    assert record is not None  # require_visible refused None
    return as_seen(record, now)


def require_visible(record: OnboardingRecord | None, organization: str | None) -> None:
    """Refuse what the caller may not see.

    Raises:
        NotFound: ``record`` is None, or belongs to another organization than ``organization``.
    """
    if record is None or organization not in (None, record.organization_id):
        raise NotFound("no such onboarding")


def _require_pending(record: OnboardingRecord, now: datetime) -> None:
    status = effective_status(record, now)
    if status == EXPIRED:
        raise Expired(f"the tracking code expired at {record.expires_at.isoformat()}")
    if status == SESSION_RECEIVED:
        raise Conflict("this onboarding already received its session")
    if status == COMPLETED:
        raise Conflict("this onboarding is already completed")
    if status != PENDING:  # pragma: no cover - the table's CHECK allows no other status
        raise Conflict(f"this onboarding is {status}")


def check_session(
    conn: Conn, session: SessionReport, *, now: datetime, organization: str | None
) -> OnboardingRecord:
    """Refuse a session before its code is exchanged (a code works once).

    Raises:
        NotFound: no such tracking code, or another organization's.
        Expired: the tracking code expired.
        Conflict: the onboarding already has its session or is completed, or the WABA is
            connected to another organization.
    """
    record = onboarding_store.load_onboarding(conn, session.tracking_code)
    require_visible(record, organization)
    assert record is not None
    _require_pending(record, now)
    connection = PgUnitOfWork(conn).connections.get(session.waba_id)
    if connection is not None and connection.organization_id not in (
        None,
        record.organization_id,
    ):
        raise Conflict("this WABA is connected to another organization")
    return record


def record_session(
    conn: Conn,
    cipher: TokenCipher,
    session: SessionReport,
    token: AccessToken,
    *,
    now: datetime,
    organization: str | None,
    lease_seconds: int,
    broker: dramatiq.Broker | None,
) -> int:
    """Store the exchanged business token (encrypted), attach the WABA to the onboarding's
    organization, mark the onboarding ``session_received`` and insert its completion job, in
    one transaction; then wake the job. Returns the job's id.

    A broker that is down is logged and left to the relay (the job is due after one lease).

    Raises:
        NotFound, Expired, Conflict: as ``check_session``, checked again under the row lock
            (nothing is stored then, the token included).
    """
    with conn.transaction():
        record = onboarding_store.load_onboarding(conn, session.tracking_code, lock=True)
        require_visible(record, organization)
        assert record is not None
        _require_pending(record, now)
        save_token(conn, cipher, session.waba_id, token)
        try:
            attach_organization(
                PgUnitOfWork(conn, cipher),
                waba_id=session.waba_id,
                organization_id=record.organization_id,
                owner_business_id=session.business_id,
                at=now,
                source=f"onboarding:{session.tracking_code}",
            )
        except WabaClaimedElsewhere:
            raise Conflict("this WABA is connected to another organization") from None
        onboarding_store.record_session(
            conn,
            session.tracking_code,
            waba_id=session.waba_id,
            business_id=session.business_id,
            phone_number_id=session.phone_number_id,
            signup_event=session.event,
        )
        job_id, _ = insert_job(
            conn,
            field=COMPLETION_JOB,
            key=f"{COMPLETION_JOB}:{session.tracking_code}",
            value={"tracking_code": session.tracking_code},
            lease_seconds=lease_seconds,
        )
    wake_job(broker, job_id)
    return job_id


def select_phone(
    conn: Conn,
    waba_id: str,
    phone_number_id: str,
    *,
    organization: str | None,
    lease_seconds: int,
    broker: dramatiq.Broker | None,
) -> ConnectionView:
    """The SaaS chose the WABA's number (SPEC §7.4): it becomes ``connected``, the connection
    leaves ``awaiting_phone_selection``, and the number's activation job is inserted and woken.

    Raises:
        NotFound: no connection for the WABA, or another organization's.
        InvalidChoice: the number is not one of the WABA's (``field`` ``phone_number_id``).
    """
    with conn.transaction():
        uow = PgUnitOfWork(conn)
        connection = uow.connections.get_for_update(waba_id)
        if connection is None or organization not in (None, connection.organization_id):
            raise NotFound("no such connection")
        phone = uow.phone_numbers.get(phone_number_id)
        if phone is None or phone.waba_id != waba_id:
            raise InvalidChoice("phone_number_id", "not a phone number of this WABA")
        if phone.status != PHONE_CONNECTED:
            uow.phone_numbers.save(replace(phone, status=PHONE_CONNECTED))
        phone_selected(uow, waba_id)
        job_id, _ = insert_job(
            conn,
            field=PHONE_ACTIVATION_JOB,
            key=f"{PHONE_ACTIVATION_JOB}:{phone_number_id}",
            value={"waba_id": waba_id, "phone_number_id": phone_number_id},
            lease_seconds=lease_seconds,
        )
        view = connection_views.load_connection(conn, waba_id)
    assert view is not None  # locked and read in this very transaction
    wake_job(broker, job_id)
    return view


def wake_job(broker: dramatiq.Broker | None, job_id: int) -> bool:
    """Enqueue ``process_event`` for a committed job; False (logged) when the broker is down
    or absent: the relay delivers the job after one lease."""
    if broker is None:
        return False
    try:
        enqueue_events(broker, [job_id])
    except DependencyUnavailable as error:
        log.warning(
            "job %s not enqueued (%s); the relay delivers it", job_id, error, extra={"job": job_id}
        )
        return False
    return True
