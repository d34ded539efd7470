"""The onboarding completion job: a step machine that resumes where it stopped (SPEC §7.4).

After the SaaS posted the Embedded Signup session (the code exchanged, the token stored), the
job runs these steps in order, each recorded on the onboarding once it succeeded, so a retry
or a replay never repeats one:

    attached        the WABA's connection belongs to the organization (converges with
                    PARTNER_ADDED, whichever came first)
    scopes_checked  ``debug_token``: a token without the WhatsApp scopes flags the connection
                    ``reconnect_required`` at once, instead of failing on every later call
    subscribed      ``POST /{waba}/subscribed_apps`` (without it no webhook ever arrives)
    phones_listed   ``GET /{waba}/phone_numbers``: one number → ``connected``; several → the
                    connection awaits the SaaS's choice
    activated       the chosen number registered (Cloud API, with a PIN) or, for a coexistence
                    number, its contacts and history synced — never registered
    completed       the onboarding is ``completed`` (it does not wait for PARTNER_ADDED)

Graph is called outside any transaction; what a call returned is recorded after it, in a
short transaction of its own. The number's activation has steps of its own (on the number),
shared with the job that runs when the SaaS selects one number among several.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from domain.connections import attach_organization, await_phone_selection
from domain.errors import ConcurrencyConflict
from domain.graph import AccessToken, GraphApi, GraphPhoneNumber
from domain.ports import Onboarding, PhoneNumber, UnitOfWork
from domain.token_checks import check_token
from domain.token_health import TokenStatus

STEPS = ("attached", "scopes_checked", "subscribed", "phones_listed", "activated", "completed")
#: The session's ``event`` for a WhatsApp Business app number (coexistence).
COEXISTENCE_EVENT = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
#: Activation steps of one number, in order; each is skipped when it does not apply.
ACTIVATION_STEPS = ("registered", "contacts_synced", "history_synced", "active")

PHONE_PENDING = "pending"
PHONE_CONNECTED = "connected"

Transaction = Callable[[], AbstractContextManager[UnitOfWork]]


@dataclass(frozen=True, slots=True)
class OnboardingSettings:
    warn_days: int
    critical_days: int
    #: Two-step-verification PIN for ``/register``; None: no number is registered.
    register_pin: str | None


@dataclass(frozen=True, slots=True)
class CompletionResult:
    #: The last step done (``completed`` when the onboarding is complete).
    step: str | None
    #: Why the job stopped before completing, when it did on purpose (missing scopes).
    stopped: str | None = None


def complete_onboarding(
    tracking_code: str,
    *,
    transaction: Transaction,
    graph: GraphApi,
    now: Callable[[], datetime],
    settings: OnboardingSettings,
) -> CompletionResult:
    """Run the steps the onboarding has not done yet.

    Raises:
        LookupError: no such onboarding, or it has no session yet.
        GraphUnavailable, GraphRateLimited: transient; a retry resumes at the failed step.
        GraphRejected, TokenUndecryptable: permanent; the job is dead-lettered with the reason
            and a replay resumes at the failed step.
    """
    with transaction() as uow:
        onboarding = _session(uow, tracking_code)
    done = STEPS.index(onboarding.step) + 1 if onboarding.step in STEPS else 0
    waba_id = onboarding.waba_id
    assert waba_id is not None  # _session checked it
    token: AccessToken | None = None
    for step in STEPS[done:]:
        if step == "attached":
            with transaction() as uow:
                attach_organization(
                    uow,
                    waba_id=waba_id,
                    organization_id=onboarding.organization_id,
                    owner_business_id=onboarding.business_id,
                    at=now(),
                    source=f"onboarding:{tracking_code}",
                )
                uow.onboardings.set_step(tracking_code, step)
            continue
        if step == "scopes_checked":
            health = check_token(
                waba_id,
                transaction=transaction,
                graph=graph,
                now=now(),
                warn_days=settings.warn_days,
                critical_days=settings.critical_days,
            )
            if health is None:
                raise ConcurrencyConflict("the token was replaced while it was being checked")
            with transaction() as uow:
                if health.status in (TokenStatus.INVALID, TokenStatus.UNDECRYPTABLE):
                    # Every later call would fail: stop here, say why, and let the customer
                    # onboard again (a new session starts a new job).
                    uow.onboardings.set_step(tracking_code, step, error=health.reason)
                    return CompletionResult(step, stopped=health.reason)
                uow.onboardings.set_step(tracking_code, step)
            continue
        if token is None:
            with transaction() as uow:
                token = uow.tokens.load(waba_id)
        if step == "subscribed":
            graph.subscribe_app(waba_id, token)
            with transaction() as uow:
                uow.onboardings.set_step(tracking_code, step)
        elif step == "phones_listed":
            listed = graph.list_phone_numbers(waba_id, token)
            with transaction() as uow:
                _record_phones(uow, waba_id, listed)
                uow.onboardings.set_step(tracking_code, step)
        elif step == "activated":
            with transaction() as uow:
                phones = [
                    p
                    for p in uow.phone_numbers.list_for_waba(waba_id)
                    if p.status == PHONE_CONNECTED
                ]
            coexistence = onboarding.signup_event == COEXISTENCE_EVENT
            for phone in phones:
                activate_phone(
                    phone.phone_number_id,
                    coexistence=coexistence or phone.coexistence,
                    token=token,
                    transaction=transaction,
                    graph=graph,
                    settings=settings,
                )
            with transaction() as uow:
                uow.onboardings.set_step(tracking_code, step)
        else:  # completed
            with transaction() as uow:
                uow.onboardings.set_step(tracking_code, step)
                uow.onboardings.complete(tracking_code, now())
    return CompletionResult("completed")


def activate_phone(
    phone_number_id: str,
    *,
    coexistence: bool,
    token: AccessToken,
    transaction: Transaction,
    graph: GraphApi,
    settings: OnboardingSettings,
) -> None:
    """Register a Cloud API number (when a PIN is set) or request both syncs of a coexistence
    number (Meta allows them only within 24 h, once each); each done step is recorded."""
    with transaction() as uow:
        last = uow.phone_numbers.activation_step(phone_number_id)
    done = ACTIVATION_STEPS.index(last) + 1 if last in ACTIVATION_STEPS else 0
    for step in ACTIVATION_STEPS[done:]:
        if step == "registered" and not coexistence and settings.register_pin is not None:
            graph.register_phone(phone_number_id, token, settings.register_pin)
        elif step == "contacts_synced" and coexistence:
            graph.request_sync(phone_number_id, token, "smb_app_state_sync")
        elif step == "history_synced" and coexistence:
            graph.request_sync(phone_number_id, token, "history")
        with transaction() as uow:
            uow.phone_numbers.set_activation_step(phone_number_id, step)


def _session(uow: UnitOfWork, tracking_code: str) -> Onboarding:
    onboarding = uow.onboardings.get_for_update(tracking_code)
    if onboarding is None:
        raise LookupError(f"no onboarding {tracking_code}")
    if onboarding.waba_id is None:
        raise LookupError(f"onboarding {tracking_code} has no session yet")
    return onboarding


def _record_phones(uow: UnitOfWork, waba_id: str, listed: list[GraphPhoneNumber]) -> None:
    status = PHONE_CONNECTED if len(listed) == 1 else PHONE_PENDING
    for phone in listed:
        uow.phone_numbers.save(
            PhoneNumber(
                phone.phone_number_id,
                waba_id,
                phone.display_phone_number,
                status,
                coexistence=phone.coexistence,
            )
        )
    if len(listed) > 1:
        await_phone_selection(uow, waba_id)


def activate_selected_phone(
    waba_id: str,
    phone_number_id: str,
    *,
    transaction: Transaction,
    graph: GraphApi,
    settings: OnboardingSettings,
) -> None:
    """The job behind ``POST /connections/{waba}/phone``: activate the number the SaaS chose.

    Raises:
        LookupError: the number is not one of the WABA's.
    """
    with transaction() as uow:
        phone = uow.phone_numbers.get(phone_number_id)
        if phone is None or phone.waba_id != waba_id:
            raise LookupError(f"{phone_number_id} is not a number of WABA {waba_id}")
        token = uow.tokens.load(waba_id)
        coexistence = phone.coexistence or uow.onboardings.signup_event_for_waba(waba_id) == (
            COEXISTENCE_EVENT
        )
    activate_phone(
        phone_number_id,
        coexistence=coexistence,
        token=token,
        transaction=transaction,
        graph=graph,
        settings=settings,
    )
