"""What the domain needs from Meta's Graph API, as a port, and the shapes it gets back.

The real client (``adapters.graph_api``) speaks HTTP; tests use a fake Graph. Tokens travel
as ``AccessToken``, which never shows its value in ``repr``/``str``: a token must not reach a
log line, an error, a metric or an API answer by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

#: The scopes a business token needs for everything wapipe does with it.
REQUIRED_SCOPES = frozenset({"whatsapp_business_management", "whatsapp_business_messaging"})

SyncType = Literal["smb_app_state_sync", "history"]


class AccessToken:
    """A Meta access token; ``reveal()`` is the only way to its value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ValueError("an access token cannot be empty")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "AccessToken('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccessToken) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What ``debug_token`` says of a token."""

    is_valid: bool
    #: None: the token never expires (Meta reports ``expires_at: 0``).
    expires_at: datetime | None
    scopes: frozenset[str]
    #: The WABAs the token's ``whatsapp_business_management`` grant names (granular scopes).
    waba_ids: frozenset[str] = frozenset()
    app_id: str | None = None


@dataclass(frozen=True, slots=True)
class GraphPhoneNumber:
    """One number of ``GET /{waba_id}/phone_numbers``."""

    phone_number_id: str
    display_phone_number: str | None = None
    verified_name: str | None = None
    quality_rating: str | None = None
    #: ``CLOUD_API``, or ``MULTIPLE``/``ON_PREMISE``…; coexistence numbers are on the Business app.
    platform_type: str | None = None
    is_on_biz_app: bool | None = None
    code_verification_status: str | None = None

    @property
    def coexistence(self) -> bool:
        """The number is also on the WhatsApp Business app (never registered, synced instead)."""
        return bool(self.is_on_biz_app)


class GraphApi(Protocol):
    """The Graph calls of onboarding and token health (synchronous: workers, CLI).

    Every method raises the error tree of ``domain.errors``: ``GraphUnavailable`` (5xx,
    timeouts, connection failures) and ``GraphRateLimited`` are transient, ``GraphRejected``
    (any other 4xx, with Meta's code and message) is permanent.
    """

    def exchange_code(self, code: str) -> AccessToken:
        """``GET /oauth/access_token`` with the app's id and secret: the business token."""

    def debug_token(self, token: AccessToken) -> TokenInfo:
        """``GET /debug_token?input_token=…`` authorised with the app token (id|secret)."""

    def subscribe_app(self, waba_id: str, token: AccessToken) -> None:
        """``POST /{waba_id}/subscribed_apps``: without it the WABA sends no webhooks."""

    def list_phone_numbers(self, waba_id: str, token: AccessToken) -> list[GraphPhoneNumber]:
        """``GET /{waba_id}/phone_numbers`` (every page)."""

    def register_phone(self, phone_number_id: str, token: AccessToken, pin: str) -> None:
        """``POST /{phone_number_id}/register``: Cloud API numbers only, never coexistence."""

    def request_sync(
        self, phone_number_id: str, token: AccessToken, sync_type: SyncType
    ) -> str | None:
        """``POST /{phone_number_id}/smb_app_data``: a coexistence sync; its request id."""


class AsyncCodeExchange(Protocol):
    """The one Graph call made inside an HTTP request (the code expires 30 s after issue)."""

    async def exchange_code(self, code: str) -> AccessToken: ...
