"""``GET /organizations/{org}/messages`` (paged, arrival order) and ``…/messages/{wamid}``."""

from __future__ import annotations

from adapters import read_models
from adapters.read_models import MessageView
from ingress.api.cursor import encode_cursor
from ingress.api.errors import NotFound
from ingress.api.models import (
    Customer,
    MessageDetail,
    MessageItem,
    MessagePage,
    MessagePageParams,
    MessageParams,
    MessageStatus,
)
from ingress.api.routing import ApiCall


def _item_fields(view: MessageView) -> dict[str, object]:
    return {
        "wamid": view.wamid,
        "direction": view.direction,
        "type": view.type,
        "phone_number_id": view.phone_number_id,
        "customer": Customer(
            wa_id=view.customer.wa_id,
            user_id=view.customer.user_id,
            name=view.customer.name,
            username=view.customer.username,
        ),
        "timestamp": view.sent_at,
        "text": view.text,
        "status": view.status,
    }


async def list_messages(call: ApiCall[MessagePageParams, None]) -> MessagePage:
    params = call.params
    async with call.pool.connection() as conn:
        # One row more than the page: it says whether a next page exists without a count.
        views = await read_models.list_messages(
            conn, params.org, after_id=params.after or 0, limit=params.limit + 1
        )
    page = views[: params.limit]
    more = len(views) > params.limit
    return MessagePage(
        items=[MessageItem.model_validate(_item_fields(view)) for view in page],
        next=encode_cursor(page[-1].id) if more else None,
    )


async def get_message(call: ApiCall[MessageParams, None]) -> MessageDetail:
    params = call.params
    async with call.pool.connection() as conn:
        view = await read_models.load_message(conn, params.org, params.wamid)
        if view is None:
            raise NotFound
        statuses = await read_models.list_message_statuses(conn, view.wamid)
    return MessageDetail.model_validate(
        {
            **_item_fields(view),
            "statuses": [
                MessageStatus(status=s.status, timestamp=s.occurred_at, errors=s.errors)
                for s in statuses
            ],
        }
    )
