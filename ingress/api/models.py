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


def _assume_utc(value: datetime) -> datetime:
    # A time given without a zone is UTC (as in the CLI), never the database session's zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A cursor from a previous page's ``next``: validated into the row id it holds.
Cursor = Annotated[
    int,
    BeforeValidator(_cursor),
    WithJsonSchema({"type": "string", "maxLength": MAX_CURSOR_LENGTH}),
]
OrganizationId = Annotated[str, Field(min_length=1, max_length=MAX_ORGANIZATION_ID_LENGTH)]
Wamid = Annotated[str, Field(min_length=1, max_length=256)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
#: A time in a query: ISO 8601, UTC when no zone is given.
QueryDatetime = Annotated[datetime, AfterValidator(_assume_utc)]
TokenStatus = Literal["unchecked", "valid", "expiring_soon", "critical", "invalid", "undecryptable"]
#: An id the API looks up (a WABA in a path): anything else simply is not found.
LookupId = Annotated[str, Field(min_length=1, max_length=128)]
#: A Graph node id (WABA, number, business portfolio): the completion job puts it in Graph
#: paths, so only what Graph's ids are made of is accepted.
GraphId = Annotated[str, Field(pattern=r"^[0-9A-Za-z_]{1,64}$")]
#: A tracking code as ``secrets.token_urlsafe`` makes them (a longer bound for old ones).
TrackingCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
#: ``FB.login``'s code: opaque, a few hundred characters.
AuthorizationCode = Annotated[str, Field(min_length=1, max_length=4096)]
#: The ``event`` of Embedded Signup's message: FINISH, FINISH_ONLY_WABA,
#: FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING (coexistence)… (FACTS §6.2); new ones pass.
SignupEvent = Annotated[str, Field(pattern=r"^[A-Z_]{1,64}$")]
DEFAULT_DEAD_LETTER_LIMIT = 100
MAX_DEAD_LETTER_LIMIT = 1000


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrganizationParams(_Params):
    org: OrganizationId


class MessagePageParams(OrganizationParams):
    after: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT


class MessageParams(OrganizationParams):
    wamid: Wamid


class TrackingCodeParams(_Params):
    tracking_code: TrackingCode


class WabaParams(_Params):
    waba_id: LookupId


class DeadLetterParams(_Params):
    dead_letter_id: Annotated[int, Field(ge=1)]


class DeadLetterListParams(_Params):
    field: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    since: QueryDatetime | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_DEAD_LETTER_LIMIT)] = DEFAULT_DEAD_LETTER_LIMIT


class _Body(BaseModel):
    # A misspelt field (``phone_numberid``) is a 422, not silently ignored.
    model_config = ConfigDict(frozen=True, extra="forbid")


class NewOnboarding(_Body):
    organization_id: OrganizationId


class SessionBody(_Body):
    """What Embedded Signup gave the SaaS's front end (SPEC §7.2)."""

    code: AuthorizationCode
    waba_id: GraphId
    phone_number_id: GraphId | None = None
    business_id: GraphId | None = None
    event: SignupEvent | None = None


class PhoneChoice(_Body):
    phone_number_id: GraphId


class OrphanClaim(_Body):
    organization_id: OrganizationId


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
    #: ``unchecked`` until the first health check, or when no token is stored.
    token_status: TokenStatus
    #: The customer must go through Embedded Signup again (``reconnect_reason`` says why, or
    #: the token is critical, invalid or undecryptable).
    reconnect_required: bool
    reconnect_reason: str | None
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


class OnboardingCreated(_Answer):
    tracking_code: str
    organization_id: str
    status: Literal["pending"]
    expires_at: UtcDatetime


class Onboarding(_Answer):
    tracking_code: str
    organization_id: str
    status: Literal["pending", "session_received", "completed", "expired"]
    waba_id: str | None
    expires_at: UtcDatetime


class SessionAccepted(_Answer):
    status: Literal["session_received"]


class Orphan(_Answer):
    waba_id: str
    owner_business_id: str | None
    detected_at: UtcDatetime


class OrphanList(RootModel[list[Orphan]]):
    model_config = ConfigDict(frozen=True)


class DeadLetterItem(_Answer):
    """One dead letter, as ``wapipe dlq list --json`` prints it."""

    id: int
    webhook_id: int | None
    event_id: int | None
    field: str | None
    reason: str
    error: str
    attempts: int
    dead_at: UtcDatetime


class DeadLetterList(RootModel[list[DeadLetterItem]]):
    model_config = ConfigDict(frozen=True)


class DeadLetterDeath(_Answer):
    """One death of the same event or webhook (the dead letter's history)."""

    id: int
    dead_at: UtcDatetime
    replayed_at: UtcDatetime | None
    reason: str
    error: str
    attempts: int


class DeadLetterDetail(DeadLetterItem):
    """One dead letter, as ``wapipe dlq show --json`` prints it."""

    webhook_received_at: UtcDatetime | None
    replayed_at: UtcDatetime | None
    #: The raw body as received, decoded (Meta's escapes intact); None for a job, or once
    #: retention removed the webhook.
    payload: str | None
    #: The change value (or a job's parameters); None for a webhook dead letter.
    value: JsonValue | None
    history: list[DeadLetterDeath]


class ReplayedItem(_Answer):
    id: int
    status: Literal["replayed", "already_replayed"]


class ReplayAnswer(_Answer):
    """As ``wapipe dlq replay --json`` (``replayed``), with what happened to each id."""

    replayed: int
    skipped: int
    results: list[ReplayedItem]
