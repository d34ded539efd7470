"""Connections: an organization's WABAs with their numbers (``GET``), and the SaaS's choice of
number for a WABA that has several (``POST /connections/{waba_id}/phone``, SPEC §7.4)."""

from __future__ import annotations

from typing import cast

from adapters.connection_views import ConnectionView
from ingress.api.auth import acting_for
from ingress.api.errors import FieldError, InvalidRequest, NotFound
from ingress.api.models import (
    Connection,
    ConnectionList,
    OrganizationParams,
    PhoneChoice,
    PhoneNumber,
    TokenStatus,
    WabaParams,
)
from ingress.api.routing import ApiCall
from runtime.services import connections, onboardings
from runtime.services.errors import InvalidChoice
from runtime.services.errors import NotFound as ServiceNotFound


def connection_answer(view: ConnectionView) -> Connection:
    """The connection shape of SPEC §8 (never the token: only its status)."""
    return Connection(
        waba_id=view.waba_id,
        owner_business_id=view.owner_business_id,
        status=view.status,
        # A business_token.status value, checked by the model against the same names.
        token_status=cast(TokenStatus, connections.token_status(view)),
        reconnect_required=connections.reconnect_required(view),
        reconnect_reason=view.reconnect_reason,
        phone_numbers=[
            PhoneNumber(
                phone_number_id=phone.phone_number_id,
                display_phone_number=phone.display_phone_number,
                status=phone.status,
            )
            for phone in view.phone_numbers
        ],
    )


async def list_connections(call: ApiCall[OrganizationParams, None]) -> ConnectionList:
    organization = call.params.org
    views = await call.context.run(lambda conn: connections.list_connections(conn, organization))
    return ConnectionList([connection_answer(view) for view in views])


async def select_phone(call: ApiCall[WabaParams, PhoneChoice]) -> Connection:
    context = call.context
    organization = acting_for(call.principal)
    waba_id = call.params.waba_id
    phone_number_id = call.body.phone_number_id
    try:
        view = await context.run(
            lambda conn: onboardings.select_phone(
                conn,
                waba_id,
                phone_number_id,
                organization=organization,
                lease_seconds=context.settings.relay_lease_seconds,
                broker=context.broker,
            )
        )
    except ServiceNotFound:
        raise NotFound from None
    except InvalidChoice as error:
        raise InvalidRequest(
            [FieldError(loc=("body", error.field), msg=str(error), type="invalid_choice")]
        ) from None
    return connection_answer(view)
