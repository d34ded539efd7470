"""``GET /organizations/{org}/connections``: the organization's WABAs and their numbers."""

from __future__ import annotations

from adapters import read_models
from ingress.api.models import Connection, ConnectionList, OrganizationParams, PhoneNumber
from ingress.api.routing import ApiCall


async def list_connections(call: ApiCall[OrganizationParams, None]) -> ConnectionList:
    async with call.pool.connection() as conn:
        views = await read_models.list_connections(conn, call.params.org)
    return ConnectionList(
        [
            Connection(
                waba_id=view.waba_id,
                owner_business_id=view.owner_business_id,
                status=view.status,
                phone_numbers=[
                    PhoneNumber(
                        phone_number_id=phone.phone_number_id,
                        display_phone_number=phone.display_phone_number,
                        status=phone.status,
                    )
                    for phone in view.phone_numbers
                ],
            )
            for view in views
        ]
    )
