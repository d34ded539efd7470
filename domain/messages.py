"""Messages and their statuses: stored once per wamid, attributed, status forward-only.

A message's current status only moves forward — sent < delivered < read < played, and
``failed`` is terminal — whatever order Meta's webhooks arrive in (a ``read`` may come
without, or before, its ``delivered``). Every status is still kept in the history.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.attribution import organization_for_number
from domain.commands import MessageContent, Origin, RecordMessage, StatusUpdate
from domain.customers import save_customer
from domain.ports import StoredMessage, StoredStatus, UnitOfWork

#: Rank of each status Meta reports; the current status is the highest rank seen. A status
#: Meta adds later ranks 0: kept in the history, never made current.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 9}


#: When two webhooks describe the same wamid, the fuller source's origin is kept.
ORIGIN_PRECEDENCE: dict[Origin, int] = {
    "messages": 3,
    "smb_message_echoes": 2,
    "history": 1,
    "statuses": 0,
}


def status_rank(status: str) -> int:
    return STATUS_RANK.get(status, 0)


def advances(current_rank: int, status: str) -> bool:
    """True when ``status`` moves a message whose current status has ``current_rank``."""
    return status_rank(status) > current_rank


@dataclass(frozen=True, slots=True)
class Recorded:
    """What storing a message or status did, for the worker's metrics."""

    attributed: bool
    new: bool = True
    #: The organization it was attributed to, if any.
    organization_id: str | None = None


def record_message(cmd: RecordMessage, uow: UnitOfWork) -> Recorded:
    """Store an inbound or outbound message, attributed through its phone number."""
    organization = organization_for_number(
        uow,
        waba_id=cmd.waba_id,
        phone_number_id=cmd.phone_number_id,
        display_phone_number=cmd.display_phone_number,
    )
    customer_id = save_customer(uow, cmd.waba_id, cmd.customer, (cmd.sent_at, cmd.wamid))
    uow.messages.save(
        StoredMessage(
            wamid=cmd.wamid,
            direction=cmd.direction,
            origin=cmd.origin,
            organization_id=organization,
            waba_id=cmd.waba_id,
            phone_number_id=cmd.phone_number_id,
            customer_id=customer_id,
            sent_at=cmd.sent_at,
            content=cmd.content,
            nul_replaced=cmd.nul_replaced,
        )
    )
    if cmd.direction == "inbound" and cmd.origin == "messages":
        uow.phone_numbers.note_inbound(cmd.phone_number_id, cmd.sent_at)
    return Recorded(attributed=organization is not None, organization_id=organization)


def record_status(cmd: StatusUpdate, uow: UnitOfWork) -> Recorded:
    """Keep the status in the message's history and move its current status forward."""
    organization = organization_for_number(
        uow,
        waba_id=cmd.waba_id,
        phone_number_id=cmd.phone_number_id,
        display_phone_number=cmd.display_phone_number,
    )
    customer_id = save_customer(uow, cmd.waba_id, cmd.recipient, (cmd.occurred_at, cmd.wamid))
    # A status is about a message the business sent: if it is the first we hear of it, the
    # status makes it known (type unknown until an echo says it).
    uow.messages.save(
        StoredMessage(
            wamid=cmd.wamid,
            direction="outbound",
            origin="statuses",
            organization_id=organization,
            waba_id=cmd.waba_id,
            phone_number_id=cmd.phone_number_id,
            customer_id=customer_id,
            sent_at=None,
            content=MessageContent(type=None),
        )
    )
    new = uow.statuses.add(
        StoredStatus(
            wamid=cmd.wamid,
            status=cmd.status,
            occurred_at=cmd.occurred_at,
            recipient_id=cmd.recipient.wa_id,
            recipient_user_id=cmd.recipient.user_id,
            errors=cmd.errors,
            pricing=cmd.pricing,
            conversation=cmd.conversation,
            callback_data=cmd.callback_data,
            raw=cmd.raw,
        )
    )
    current = uow.messages.current_status(cmd.wamid)
    if current is not None and advances(current.rank, cmd.status):
        uow.messages.set_status(cmd.wamid, cmd.status, status_rank(cmd.status), cmd.occurred_at)
    return Recorded(attributed=organization is not None, new=new, organization_id=organization)
