"""Onboardings (SPEC §7.1–7.2): create, read, and the Embedded Signup session.

Reads try the Redis cache of pending onboardings first and fall back to Postgres (re-checking
expiry either way) when Redis misses or fails. The session request makes the API's only Graph
call, the code exchange, because the code dies 30 s after issue; the token it returns is
encrypted and stored with the onboarding's progress and its completion job in one
transaction, and never appears in an answer, a log line or an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from adapters.onboarding_store import OnboardingRecord
from domain.errors import GraphRateLimited, GraphRejected
from domain.errors import GraphUnavailable as GraphDown
from ingress.api.auth import acting_for
from ingress.api.errors import (
    CodeExchangeFailed,
    Conflict,
    Gone,
    GraphUnavailable,
    NotConfigured,
    NotFound,
)
from ingress.api.models import (
    NewOnboarding,
    Onboarding,
    OnboardingCreated,
    SessionAccepted,
    SessionBody,
    TrackingCodeParams,
)
from ingress.api.routing import ApiCall, NoParams
from runtime.services import onboardings
from runtime.services.errors import Conflict as ServiceConflict
from runtime.services.errors import Expired
from runtime.services.errors import NotFound as ServiceNotFound
from runtime.services.onboardings import SessionReport

log = logging.getLogger(__name__)

#: What the session needs configured; named in the 503 when one is missing.
SESSION_SETTINGS = "WAPIPE_META_APP_ID, WAPIPE_APP_SECRET and WAPIPE_TOKEN_KEYS"


@contextmanager
def _service_answers() -> Iterator[None]:
    """The service's refusals as the API's answers."""
    try:
        yield
    except ServiceNotFound:
        raise NotFound from None
    except Expired:
        raise Gone from None
    except ServiceConflict as error:
        raise Conflict(str(error)) from None


async def create_onboarding(call: ApiCall[NoParams, NewOnboarding]) -> OnboardingCreated:
    context = call.context
    organization = call.body.organization_id
    if acting_for(call.principal) not in (None, organization):
        raise NotFound  # another organization's, like every cross-organization access
    ttl = timedelta(hours=context.settings.onboarding_ttl_hours)
    record = await context.run(
        lambda conn: onboardings.create_onboarding(conn, organization, ttl=ttl)
    )
    if context.onboarding_cache is not None:
        remaining = (record.expires_at - context.clock()).total_seconds()
        await context.onboarding_cache.put(record, remaining)
    return OnboardingCreated(
        tracking_code=record.tracking_code,
        organization_id=record.organization_id,
        status="pending",
        expires_at=record.expires_at,
    )


async def _load(call: ApiCall[TrackingCodeParams, None]) -> OnboardingRecord:
    context = call.context
    code = call.params.tracking_code
    organization = acting_for(call.principal)
    now = context.clock()
    cached = None
    if context.onboarding_cache is not None:
        cached = await context.onboarding_cache.get(code)
    with _service_answers():
        if cached is not None:
            onboardings.require_visible(cached, organization)
            return onboardings.as_seen(cached, now)
        return await context.run(
            lambda conn: onboardings.get_onboarding(conn, code, now=now, organization=organization)
        )


async def get_onboarding(call: ApiCall[TrackingCodeParams, None]) -> Onboarding:
    record = await _load(call)
    if record.status == onboardings.EXPIRED:
        raise Gone
    return Onboarding.model_validate(
        {
            "tracking_code": record.tracking_code,
            "organization_id": record.organization_id,
            "status": record.status,
            "waba_id": record.waba_id,
            "expires_at": record.expires_at,
        }
    )


async def post_session(call: ApiCall[TrackingCodeParams, SessionBody]) -> SessionAccepted:
    context = call.context
    exchange, cipher, cache = context.code_exchange, context.cipher, context.onboarding_cache
    if exchange is None or cipher is None:
        raise NotConfigured(f"onboarding sessions need {SESSION_SETTINGS}")
    body = call.body
    session = SessionReport(
        tracking_code=call.params.tracking_code,
        waba_id=body.waba_id,
        business_id=body.business_id,
        phone_number_id=body.phone_number_id,
        event=body.event,
    )
    organization = acting_for(call.principal)
    with _service_answers():
        # Refused before the exchange: a code works once, so it is not spent on a refusal.
        await context.run(
            lambda conn: onboardings.check_session(
                conn, session, now=context.clock(), organization=organization
            )
        )
    try:
        token = await exchange.exchange_code(body.code)
    except GraphRejected as error:
        # The onboarding stays pending: the user may run Embedded Signup again.
        log.warning(
            "code exchange refused by Meta (code %s)",
            error.info.code,
            extra={"tracking_code": session.tracking_code, "graph_code": error.info.code},
        )
        raise CodeExchangeFailed(error.info.message) from None
    except (GraphDown, GraphRateLimited) as error:
        raise GraphUnavailable(str(error)) from None
    # Before the commit: reads never refill the cache, so no stale "pending" can come back.
    forgotten = cache is None or await cache.forget(session.tracking_code)
    with _service_answers():
        job_id = await context.run(
            lambda conn: onboardings.record_session(
                conn,
                cipher,
                session,
                token,
                now=context.clock(),
                organization=organization,
                lease_seconds=context.settings.relay_lease_seconds,
                broker=context.broker,
            )
        )
    if not forgotten and cache is not None:
        await cache.forget(session.tracking_code)
    log.info(
        "onboarding session received",
        extra={"tracking_code": session.tracking_code, "waba_id": session.waba_id, "job": job_id},
    )
    return SessionAccepted(status="session_received")
