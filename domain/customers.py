"""Who a customer is: the business-scoped user id when Meta sends one, else the phone number.

Since 2026 Meta identifies users by a BSUID (``user_id``); users with a username may arrive
with no phone number at all. Keying by phone alone would split or lose them (SPEC §8).
"""

from __future__ import annotations

from domain.commands import CustomerRef
from domain.ports import AsOf, UnitOfWork


def customer_key(ref: CustomerRef) -> str | None:
    """The stable key of a customer within one WABA; None when the webhook names nobody."""
    if ref.user_id:
        return f"bsuid:{ref.user_id}"
    if ref.wa_id:
        return f"wa:{ref.wa_id}"
    return None


def save_customer(uow: UnitOfWork, waba_id: str, ref: CustomerRef, as_of: AsOf) -> int | None:
    """The customer's id (created if new), or None when the webhook names nobody."""
    key = customer_key(ref)
    if key is None:
        return None
    return uow.customers.save(waba_id, key, ref, as_of)
