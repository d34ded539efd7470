"""Field ``messages``: inbound messages, statuses of outbound ones, value-level errors."""

from __future__ import annotations

from domain.commands import CustomerRef, RecordMessage, StatusUpdate, WabaReport
from domain.messages import record_message, record_status
from domain.ports import UnitOfWork
from domain.reports import record_report
from runtime.metrics import worker as metrics
from schemas.messages import Contact, MessagesValue, Status
from schemas.wire import WireModel
from workers.bursts import OrgBursts
from workers.change import Change, Handler, Outcome, parse_value, unix_time
from workers.fields.content import item, message_content, sender


def build_messages_handler(bursts: OrgBursts | None = None) -> Handler:
    """The ``messages`` handler; ``bursts`` hears of each change's organization."""

    def handle(change: Change, uow: UnitOfWork) -> Outcome:
        outcome, organizations = record_messages(change, uow)
        if bursts is not None:
            for organization in organizations:
                bursts.saw(organization)
        return outcome

    return handle


def record_messages(change: Change, uow: UnitOfWork) -> tuple[Outcome, set[str]]:
    """Apply a ``messages`` change; the outcome and the organizations it was attributed to."""
    organizations: set[str] = set()
    value = parse_value(MessagesValue, change)
    metadata = value.metadata
    for index, message in enumerate(value.messages):
        recorded = record_message(
            RecordMessage(
                source=change.source("message", index),
                waba_id=change.entry_id,
                phone_number_id=metadata.phone_number_id,
                display_phone_number=metadata.display_phone_number,
                wamid=message.id,
                direction="inbound",
                origin="messages",
                customer=sender(message, value.contact_for(message)),
                sent_at=unix_time(message.timestamp),
                content=message_content(message, item(change.value, "messages", index)),
                nul_replaced=change.nul_replaced,
            ),
            uow,
        )
        if recorded.organization_id is not None:
            organizations.add(recorded.organization_id)
        if not recorded.attributed:
            metrics.UNATTRIBUTED.labels("messages").inc()
    for index, status in enumerate(value.statuses):
        recorded = record_status(
            StatusUpdate(
                source=change.source("status", index),
                waba_id=change.entry_id,
                phone_number_id=metadata.phone_number_id,
                display_phone_number=metadata.display_phone_number,
                wamid=status.id,
                status=status.status,
                occurred_at=unix_time(status.timestamp),
                recipient=recipient(status, value.contacts),
                errors=tuple(error.model_dump(mode="json") for error in status.errors),
                pricing=_dump(status.pricing),
                conversation=_dump(status.conversation),
                callback_data=status.biz_opaque_callback_data,
                raw=item(change.value, "statuses", index) or {},
            ),
            uow,
        )
        if recorded.organization_id is not None:
            organizations.add(recorded.organization_id)
        if not recorded.attributed:
            metrics.UNATTRIBUTED.labels("statuses").inc()
    for index, error in enumerate(value.errors):
        # Out-of-band errors about the number (rate limits, app problems): history, and the
        # latest one per code as state.
        record_report(
            WabaReport(
                source=change.source("error", index),
                waba_id=change.entry_id,
                field="messages",
                kind=f"error:{error.code}",
                subject=f"phone_number_id:{metadata.phone_number_id}",
                occurred_at=change.occurred_at,
                aspect=f"error:{error.code}",
                details=error.model_dump(mode="json"),
            ),
            uow,
        )
    return Outcome.PROCESSED, organizations


def recipient(status: Status, contacts: list[Contact]) -> CustomerRef:
    """The user a status is about; ``contacts[]`` (absent on failed ones) adds the profile."""
    contact = next(
        (
            c
            for c in contacts
            if (status.recipient_user_id and c.user_id == status.recipient_user_id)
            or (status.recipient_id and c.wa_id == status.recipient_id)
        ),
        None,
    )
    profile = contact.profile if contact is not None else None
    # In a group chat ``recipient_id`` is the group's id, not a user's phone.
    phone = None if status.recipient_type == "group" else status.recipient_id
    return CustomerRef(
        user_id=status.recipient_user_id or (contact.user_id if contact else None),
        wa_id=phone or (contact.wa_id if contact else None),
        parent_user_id=status.recipient_parent_user_id,
        username=profile.username if profile is not None else None,
        name=profile.name if profile is not None else None,
    )


def _dump(model: WireModel | None) -> dict[str, object] | None:
    return model.model_dump(mode="json") if model is not None else None
