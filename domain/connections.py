"""The connection of a WABA: who owns it and what state Meta says it is in.

One connection per WABA (``waba_id`` is unique). Account events move its status; the latest
by Meta's time wins, so an event that arrives late is recorded in the history and changes
nothing else. The organization is resolved once, when the WABA is shared with the partner
(SPEC §7.3): a tracking code if the payload carries one → an onboarding session that reported
the WABA → an attached connection of the same business portfolio → otherwise an orphan.
Every event is recorded in the history, known or not; none is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.attribution import attach_waba_traffic
from domain.commands import AccountEvent
from domain.errors import ConnectionNotFound, WabaClaimedElsewhere
from domain.ports import Connection, HistoryEntry, StateReport, UnitOfWork

ACTIVE = "active"
ORPHAN = "orphan"
DISCONNECTED = "disconnected"
BANNED = "banned"
RESTRICTED = "restricted"
DELETED = "deleted"
AWAITING_PHONE_SELECTION = "awaiting_phone_selection"
#: Statuses of a connection that works; a "connected" event leaves them as they are.
WORKING = (ACTIVE, AWAITING_PHONE_SELECTION)
_CONNECTED = "connected"  # effect: attached (active) or orphan, depending on the organization

#: The events that attach a WABA and resolve its organization.
SHARING_EVENTS = frozenset({"PARTNER_ADDED", "PARTNER_APP_INSTALLED"})

#: Every account_update event Meta documents (FACTS §6.1), legacy ones included.
KNOWN_EVENTS = frozenset(
    {
        "PARTNER_ADDED", "PARTNER_APP_INSTALLED", "PARTNER_APP_UNINSTALLED", "PARTNER_REMOVED",
        "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE", "ACCOUNT_VIOLATION", "DISABLED_UPDATE",
        "ACCOUNT_RESTRICTION", "ACCOUNT_DELETED", "ACCOUNT_OFFBOARDED", "ACCOUNT_RECONNECTED",
        "AD_ACCOUNT_LINKED", "MM_LITE_TERMS_SIGNED", "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE",
        "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", "VOLUME_BASED_PRICING_TIER_UPDATE",
        "VERIFIED_ACCOUNT",
    }
)  # fmt: skip

_STATUS_EFFECTS = {
    "PARTNER_ADDED": _CONNECTED,
    "PARTNER_APP_INSTALLED": _CONNECTED,
    "ACCOUNT_RECONNECTED": _CONNECTED,
    "PARTNER_REMOVED": DISCONNECTED,
    "PARTNER_APP_UNINSTALLED": DISCONNECTED,
    "ACCOUNT_OFFBOARDED": DISCONNECTED,
    "ACCOUNT_DELETED": DELETED,
}

#: Events whose details are state worth keeping as "the latest" (aspect of the WABA).
_STATE_ASPECTS = {
    "ACCOUNT_VIOLATION": "violation",
    "DISABLED_UPDATE": "ban",
    "ACCOUNT_RESTRICTION": "restriction",
    "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE": "certification",
    "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE": "auth_international_rate",
    "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE": "country",
    "VOLUME_BASED_PRICING_TIER_UPDATE": "volume_tier",
    "AD_ACCOUNT_LINKED": "ad_account",
    "MM_LITE_TERMS_SIGNED": "mm_lite_terms",
}


@dataclass(frozen=True, slots=True)
class AccountOutcome:
    known: bool
    #: The connection is (still) an orphan after this event.
    orphan: bool = False
    #: The event changed the connection's status.
    status_changed: bool = False


def status_effect(event: str, details: Mapping[str, Any]) -> str | None:
    """What an event says about the connection's status; None when it says nothing."""
    if event == "DISABLED_UPDATE":
        ban = details.get("ban_info")
        state = ban.get("waba_ban_state") if isinstance(ban, Mapping) else None
        return {"DISABLE": BANNED, "REINSTATE": _CONNECTED}.get(str(state))
    if event == "ACCOUNT_RESTRICTION":
        restrictions = details.get("restriction_info")
        return RESTRICTED if restrictions else _CONNECTED
    return _STATUS_EFFECTS.get(event)


def concrete_status(effect: str, organization_id: str | None, current: str | None) -> str:
    if effect != _CONNECTED:
        return effect
    if organization_id is None:
        return ORPHAN
    return current if current in WORKING else ACTIVE


def apply_account_event(cmd: AccountEvent, uow: UnitOfWork) -> AccountOutcome:
    """Record an account event and apply it to the WABA's connection."""
    if not uow.accounts.add_history(
        HistoryEntry(
            source=cmd.source,
            waba_id=cmd.waba_id,
            field="account_update",
            kind=cmd.event,
            subject="waba",
            occurred_at=cmd.occurred_at,
            details=cmd.details,
        )
    ):
        # Already applied (duplicate delivery, relay, replay): every effect below is too.
        return _outcome(cmd, uow.connections.get(cmd.waba_id), changed=False)
    aspect = _STATE_ASPECTS.get(cmd.event)
    if aspect is not None:
        uow.accounts.set_state(
            StateReport(cmd.waba_id, "waba", aspect, cmd.details, (cmd.occurred_at, cmd.source))
        )
    effect = status_effect(cmd.event, cmd.details)
    if effect is None:
        return _outcome(cmd, uow.connections.get(cmd.waba_id), changed=False)
    current = _lock_or_create(cmd, uow, effect)
    if current is None:  # created by this event: nothing more to apply
        return _outcome(cmd, uow.connections.get(cmd.waba_id), changed=True)
    updated = _apply(cmd, uow, current, effect)
    if updated != current:
        uow.connections.update(updated)
    return _outcome(cmd, updated, changed=updated.status != current.status)


def _lock_or_create(cmd: AccountEvent, uow: UnitOfWork, effect: str | None) -> Connection | None:
    """The connection locked for update, or None once this event created it."""
    current = uow.connections.get_for_update(cmd.waba_id)
    if current is not None:
        return current
    organization = _resolve_organization(cmd, uow) if cmd.event in SHARING_EVENTS else None
    created = Connection(
        waba_id=cmd.waba_id,
        organization_id=organization,
        owner_business_id=cmd.owner_business_id,
        status=concrete_status(effect or _CONNECTED, organization, None),
        status_reason=cmd.reason,
        status_at=cmd.occurred_at,
        status_source=cmd.source,
    )
    if uow.connections.insert(created):
        if organization is not None:
            attach_waba_traffic(uow, cmd.waba_id, organization)
        return None
    # Another worker created it between our read and our insert: apply to theirs.
    current = uow.connections.get_for_update(cmd.waba_id)
    if current is None:  # pragma: no cover - insert lost the race, so the row exists
        raise RuntimeError(f"connection {cmd.waba_id} vanished while locked")
    return current


def _apply(
    cmd: AccountEvent, uow: UnitOfWork, current: Connection, effect: str | None
) -> Connection:
    updated = current
    if updated.owner_business_id is None and cmd.owner_business_id is not None:
        updated = replace(updated, owner_business_id=cmd.owner_business_id)
    if updated.organization_id is None and cmd.event in SHARING_EVENTS:
        organization = _resolve_organization(cmd, uow)
        if organization is not None:
            updated = replace(updated, organization_id=organization)
            attach_waba_traffic(uow, cmd.waba_id, organization)
            if updated.status == ORPHAN:
                updated = replace(updated, status=ACTIVE)
    if effect is not None and (cmd.occurred_at, cmd.source) > updated.status_as_of:
        updated = replace(
            updated,
            status=concrete_status(effect, updated.organization_id, updated.status),
            status_reason=cmd.reason,
            status_at=cmd.occurred_at,
            status_source=cmd.source,
        )
    return updated


def _resolve_organization(cmd: AccountEvent, uow: UnitOfWork) -> str | None:
    if cmd.tracking_code:
        organization = uow.onboardings.organization_for_tracking_code(cmd.tracking_code)
        if organization is not None:
            return organization
    organization = uow.onboardings.organization_for_waba(cmd.waba_id)
    if organization is not None:
        return organization
    if cmd.owner_business_id:
        return uow.connections.organization_of_business(cmd.owner_business_id)
    return None


def _outcome(cmd: AccountEvent, connection: Connection | None, *, changed: bool) -> AccountOutcome:
    return AccountOutcome(
        known=cmd.event in KNOWN_EVENTS,
        orphan=connection is not None and connection.organization_id is None,
        status_changed=changed,
    )


def attach_organization(
    uow: UnitOfWork,
    *,
    waba_id: str,
    organization_id: str,
    owner_business_id: str | None,
    at: datetime,
    source: str,
) -> Connection:
    """Give the WABA's connection to ``organization_id`` (an onboarding session said so, or
    an operator claimed the orphan); create it if no webhook did yet.

    Converges with PARTNER_ADDED in either order: the row is locked, an orphan is attached,
    and the traffic stored while it was an orphan becomes the organization's.

    Raises:
        WabaClaimedElsewhere: the WABA already belongs to another organization.
    """
    current = uow.connections.get_for_update(waba_id)
    if current is None:
        created = Connection(
            waba_id=waba_id,
            organization_id=organization_id,
            owner_business_id=owner_business_id,
            status=ACTIVE,
            status_reason=None,
            status_at=at,
            status_source=source,
        )
        if uow.connections.insert(created):
            attach_waba_traffic(uow, waba_id, organization_id)
            return created
        current = uow.connections.get_for_update(waba_id)
        if current is None:  # pragma: no cover - insert lost the race, so the row exists
            raise RuntimeError(f"connection {waba_id} vanished while locked")
    if current.organization_id not in (None, organization_id):
        raise WabaClaimedElsewhere(f"WABA {waba_id} belongs to another organization")
    updated = current
    if current.organization_id is None:
        updated = replace(updated, organization_id=organization_id)
        if updated.status == ORPHAN:
            updated = replace(updated, status=ACTIVE)
        attach_waba_traffic(uow, waba_id, organization_id)
    if updated.owner_business_id is None and owner_business_id is not None:
        updated = replace(updated, owner_business_id=owner_business_id)
    if updated != current:
        uow.connections.update(updated)
    return updated


def claim_orphan(
    uow: UnitOfWork, *, waba_id: str, organization_id: str, actor: str, at: datetime
) -> Connection:
    """An operator attaches an orphan WABA to an organization; the audit log says who.

    Raises:
        ConnectionNotFound: no connection for that WABA.
        WabaClaimedElsewhere: it is not an orphan (it has an organization already).
    """
    current = uow.connections.get_for_update(waba_id)
    if current is None:
        raise ConnectionNotFound(f"no connection for WABA {waba_id}")
    if current.organization_id is not None:
        raise WabaClaimedElsewhere(f"WABA {waba_id} is not an orphan")
    connection = attach_organization(
        uow,
        waba_id=waba_id,
        organization_id=organization_id,
        owner_business_id=None,
        at=at,
        source=f"claim:{actor}",
    )
    uow.audit.record(
        actor=actor,
        action="orphan.claim",
        subject=f"connection:{waba_id}",
        details={"organization_id": organization_id},
    )
    return connection


def require_reconnect(uow: UnitOfWork, waba_id: str, reason: str | None) -> None:
    """Flag (or, with ``None``, clear) that the customer must onboard again, and why."""
    current = uow.connections.get_for_update(waba_id)
    if current is not None and current.reconnect_reason != reason:
        uow.connections.update(replace(current, reconnect_reason=reason))


def await_phone_selection(uow: UnitOfWork, waba_id: str) -> None:
    """The WABA has several numbers: the SaaS must choose one (SPEC §7.4)."""
    current = uow.connections.get_for_update(waba_id)
    if current is not None and current.status == ACTIVE:
        uow.connections.update(replace(current, status=AWAITING_PHONE_SELECTION))


def phone_selected(uow: UnitOfWork, waba_id: str) -> None:
    current = uow.connections.get_for_update(waba_id)
    if current is not None and current.status == AWAITING_PHONE_SELECTION:
        uow.connections.update(replace(current, status=ACTIVE))
