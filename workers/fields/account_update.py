"""Field ``account_update``: WABA sharing, removal, bans, reviews… applied to the connection.

Routed by ``value.waba_info.waba_id`` when the event carries it: on PARTNER_* events
``entry.id`` is the partner's own business portfolio, not the WABA (FACTS §4). Other events
are about the WABA in ``entry.id``.
"""

from __future__ import annotations

import logging

from domain.commands import AccountEvent
from domain.connections import KNOWN_EVENTS, SHARING_EVENTS, apply_account_event
from domain.ports import UnitOfWork
from runtime.metrics import worker as metrics
from schemas.account_update import AccountUpdateValue
from workers.change import Change, Outcome, parse_value

log = logging.getLogger(__name__)


def handle_account_update(change: Change, uow: UnitOfWork) -> Outcome:
    value = parse_value(AccountUpdateValue, change)
    waba_info = value.waba_info
    disconnection = value.disconnection_info
    command = AccountEvent(
        source=change.source(),
        waba_id=waba_info.waba_id if waba_info is not None else change.entry_id,
        event=value.event,
        occurred_at=change.occurred_at,
        owner_business_id=waba_info.owner_business_id if waba_info is not None else None,
        tracking_code=value.tracking_code,
        reason=disconnection.reason if disconnection is not None else None,
        details=change.value,
    )
    outcome = apply_account_event(command, uow)
    metrics.ACCOUNT_EVENTS.labels(value.event if outcome.known else "other").inc()
    if not outcome.known:
        log.info(
            "unknown account_update event stored",
            extra={"event_id": change.event_id, "account_event": value.event[:64]},
        )
    if outcome.orphan and value.event in SHARING_EVENTS:
        metrics.ORPHANS_DETECTED.inc()
        log.warning(
            "WABA shared with no organization found: orphan connection",
            extra={"event_id": change.event_id, "waba_id": command.waba_id},
        )
    return Outcome.PROCESSED


__all__ = ["KNOWN_EVENTS", "handle_account_update"]
