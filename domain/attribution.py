"""Which organization a phone number's traffic belongs to (SPEC §6, §16).

A number is attributed through its WABA's connection. A number not seen before is learnt from
the webhook that names it. Traffic of a WABA that no organization owns yet is stored
unattributed (organization ``None``) and never an error: unknown tenants are not failures.
When the WABA's connection gains its organization later (Meta may deliver PARTNER_ADDED after
the first messages), ``attach_waba_traffic`` gives it what was stored meanwhile, so the result
does not depend on the order webhooks arrive in.
"""

from __future__ import annotations

from domain.ports import PhoneNumber, UnitOfWork

#: The status a number gets when a webhook shows it in use.
SEEN_NUMBER_STATUS = "connected"


def organization_for_number(
    uow: UnitOfWork, *, waba_id: str, phone_number_id: str, display_phone_number: str | None
) -> str | None:
    """The organization owning ``phone_number_id``, or None when no connection claims it."""
    known = uow.phone_numbers.owner_of(phone_number_id)
    if known is not None:
        return known.organization_id
    uow.phone_numbers.add(
        PhoneNumber(phone_number_id, waba_id, display_phone_number, SEEN_NUMBER_STATUS)
    )
    connection = uow.connections.get(waba_id)
    return connection.organization_id if connection is not None else None


def attach_waba_traffic(uow: UnitOfWork, waba_id: str, organization_id: str) -> None:
    """The WABA now belongs to ``organization_id``: so do its unattributed messages."""
    uow.messages.attribute_waba(waba_id, organization_id)
