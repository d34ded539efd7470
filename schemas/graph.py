"""Graph API answers wapipe reads: the code exchange, ``debug_token``, phone numbers, errors.

Same contract as the webhook models (``schemas.wire``): frozen, unknown keys kept, enum-like
values plain ``str``. A known field of the wrong type raises ``pydantic.ValidationError``;
the adapter turns that into ``GraphUnavailable`` (Meta answered 2xx with a body it never
sends, so the next attempt may fare better).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.wire import Timestamp, WireId, WireModel


class GraphErrorData(WireModel):
    messaging_product: str | None = None
    #: Meta says to key logic on ``code`` and ``details``, not on titles (FACTS §8.2).
    details: str | None = None


class GraphError(WireModel):
    """``{"error": {...}}`` of a refused Graph call."""

    message: str = ""
    type: str | None = None
    code: int | None = None
    error_subcode: int | None = None
    error_data: GraphErrorData | None = None
    fbtrace_id: str | None = None


class GraphErrorBody(WireModel):
    error: GraphError


class AccessTokenAnswer(WireModel):
    """``GET /oauth/access_token``: the business token."""

    access_token: str = Field(min_length=1)
    token_type: str | None = None
    expires_in: int | None = None


class GranularScope(WireModel):
    scope: str
    #: The objects (WABA ids for ``whatsapp_business_management``) the grant covers.
    target_ids: list[WireId] = Field(default_factory=list)


class DebugTokenData(WireModel):
    is_valid: bool
    app_id: WireId | None = None
    type: str | None = None
    application: str | None = None
    #: Unix seconds; ``0`` means the token never expires.
    expires_at: Timestamp | None = None
    data_access_expires_at: Timestamp | None = None
    issued_at: Timestamp | None = None
    scopes: list[str] = Field(default_factory=list)
    granular_scopes: list[GranularScope] = Field(default_factory=list)
    user_id: WireId | None = None
    #: Present when ``is_valid`` is false: why (for example code 190).
    error: GraphError | None = None


class DebugTokenAnswer(WireModel):
    """``GET /debug_token``."""

    data: DebugTokenData


class SuccessAnswer(WireModel):
    """``{"success": true}`` of ``subscribed_apps`` and ``register``; ``false`` does not parse."""

    success: Literal[True]


class PhoneNumber(WireModel):
    id: WireId
    display_phone_number: str | None = None
    verified_name: str | None = None
    quality_rating: str | None = None
    platform_type: str | None = None
    code_verification_status: str | None = None
    is_on_biz_app: bool | None = None


class Cursors(WireModel):
    before: str | None = None
    after: str | None = None


class Paging(WireModel):
    cursors: Cursors | None = None
    #: Present only when there is a further page.
    next: str | None = None
    previous: str | None = None


class PhoneNumbersPage(WireModel):
    """One page of ``GET /{waba_id}/phone_numbers``."""

    data: list[PhoneNumber]
    paging: Paging | None = None


class SyncAnswer(WireModel):
    """``POST /{phone_number_id}/smb_app_data``."""

    messaging_product: str | None = None
    request_id: str | None = None
