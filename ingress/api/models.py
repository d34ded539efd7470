"""The API's wire shapes: parameter models (path + query) and response models (SPEC §8).

Parameter models forbid unknown fields, so a misspelt query parameter (``limt=10``) is a 422
rather than a silently ignored default. Response models are frozen and every answer is built
from one, so the later OpenAPI document describes exactly what is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    RootModel,
    WithJsonSchema,
)

from adapters.api_keys import MAX_ORGANIZATION_ID_LENGTH
from ingress.api.cursor import MAX_CURSOR_LENGTH, decode_cursor

DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 500


def _cursor(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError("expected a cursor string")
    return decode_cursor(value)


def _utc(value: datetime) -> datetime:
    # psycopg answers in the session's time zone; the API always speaks UTC.
    return value.astimezone(UTC)


#: A cursor from a previous page's ``next``: validated into the row id it holds.
Cursor = Annotated[
    int,
    BeforeValidator(_cursor),
    WithJsonSchema({"type": "string", "maxLength": MAX_CURSOR_LENGTH}),
]
OrganizationId = Annotated[str, Field(min_length=1, max_length=MAX_ORGANIZATION_ID_LENGTH)]
Wamid = Annotated[str, Field(min_length=1, max_length=256)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
TokenStatus = Literal["unchecked", "valid", "expiring_soon", "critical", "invalid", "undecryptable"]


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrganizationParams(_Params):
    org: OrganizationId


class MessagePageParams(OrganizationParams):
    after: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT


class MessageParams(OrganizationParams):
    wamid: Wamid


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PhoneNumber(_Answer):
    phone_number_id: str
    display_phone_number: str | None
    status: str


class Connection(_Answer):
    waba_id: str
    owner_business_id: str | None
    status: str
    # Tokens are stored by a later issue: until a health check ran, the status is "unchecked".
    token_status: TokenStatus = "unchecked"  # noqa: S105 - a status name, not a secret
    reconnect_required: bool = False
    phone_numbers: list[PhoneNumber]


class ConnectionList(RootModel[list[Connection]]):
    model_config = ConfigDict(frozen=True)


class Customer(_Answer):
    wa_id: str | None
    user_id: str | None
    name: str | None
    username: str | None


class MessageItem(_Answer):
    wamid: str
    direction: Literal["inbound", "outbound"]
    type: str | None
    phone_number_id: str | None
    customer: Customer
    timestamp: UtcDatetime | None
    text: str | None
    status: str | None


class MessagePage(_Answer):
    items: list[MessageItem]
    next: str | None


class MessageStatus(_Answer):
    status: str
    timestamp: UtcDatetime
    errors: list[JsonValue]


class MessageDetail(MessageItem):
    statuses: list[MessageStatus]
