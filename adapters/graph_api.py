"""Meta's Graph API over httpx: ``HttpGraphApi`` (workers, CLI) and ``AsyncHttpCodeExchange``.

Both share one request builder (``_build_request``), one answer/error translation
(``adapters.graph_errors.read_answer``) and one observation (``_observed``: timing, outcome,
transport errors → ``GraphUnavailable``). Every network byte goes through an httpx transport,
injectable for tests (``httpx.MockTransport``, or the fake Graph served over HTTP).

Secrets: the code exchange sends the app secret and the code in its query string (as Meta
documents); ``debug_token`` sends the input token in its query. So no URL with its query is
ever put in a message, and httpx's own INFO line ("HTTP Request: GET <url> …") is stripped
of its query string by a filter on the ``httpx`` logger. Business tokens and the app token
(``APP_ID|APP_SECRET``, for ``debug_token``) travel as ``Authorization: Bearer`` headers,
which Graph accepts in place of the ``access_token`` parameter, so they never enter a URL.

Metrics: the clients call ``observe(operation, outcome, seconds)`` once per HTTP request;
``runtime.bootstrap`` passes a function that updates the Prometheus objects (``adapters``
may not import ``runtime``). Operations are ``OPERATIONS``, outcomes ``OUTCOMES``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Final, Literal, TypeVar

import anyio
import httpx
from pydantic import BaseModel

from adapters.graph_errors import read_answer, transport_failure
from domain.errors import GraphRateLimited, GraphRejected, GraphUnavailable
from domain.graph import AccessToken, GraphPhoneNumber, SyncType, TokenInfo
from schemas.graph import (
    AccessTokenAnswer,
    DebugTokenAnswer,
    DebugTokenData,
    PhoneNumber,
    PhoneNumbersPage,
    SuccessAnswer,
    SyncAnswer,
)

if TYPE_CHECKING:
    from domain.graph import AsyncCodeExchange, GraphApi

GraphObserver = Callable[[str, str, float], None]
"""``observe(operation, outcome, seconds)``, called once per Graph HTTP request."""

OPERATIONS: Final = (
    "exchange_code",
    "debug_token",
    "subscribe_app",
    "list_phone_numbers",
    "register_phone",
    "request_sync",
)
OUTCOMES: Final = ("ok", "rate_limited", "rejected", "unavailable")

#: Workers and the CLI: Graph answers these calls in well under a second when it is healthy.
DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=3.0, read=10.0, write=5.0, pool=5.0)
#: The exchange runs inside the SaaS backend's request, and the code dies 30 s after issue.
DEFAULT_EXCHANGE_TIMEOUT: Final = httpx.Timeout(connect=2.0, read=4.0, write=2.0, pool=1.0)
#: Overall budget of one exchange (httpx's timeouts bound each phase, not their sum).
DEFAULT_EXCHANGE_BUDGET_S: Final = 5.0
#: A WABA has a handful of numbers; a cursor that never ends is Meta misbehaving.
DEFAULT_MAX_PAGES: Final = 50

PHONE_NUMBER_FIELDS: Final = (
    "id,display_phone_number,verified_name,quality_rating,platform_type,"
    "code_verification_status,is_on_biz_app"
)
#: The ``granular_scopes`` entry whose ``target_ids`` are the WABAs shared with the app.
WABA_SCOPE: Final = "whatsapp_business_management"

_USER_AGENT = "wapipe"
_NODE_ID = re.compile(r"[0-9A-Za-z_]{1,64}")
_Model = TypeVar("_Model", bound=BaseModel)


def ignore_observation(operation: str, outcome: str, seconds: float) -> None:
    """The default observer: no metrics."""


@dataclass(frozen=True, slots=True)
class _Call:
    """One Graph request, described independently of the (sync or async) client."""

    operation: str
    method: Literal["GET", "POST"]
    path: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, str] | None = None
    bearer: str | None = None
    #: Values sent with the call, scrubbed from anything Meta says back.
    secrets: tuple[str, ...] = ()


def _build_request(client: httpx.Client | httpx.AsyncClient, call: _Call) -> httpx.Request:
    headers = {"Authorization": f"Bearer {call.bearer}"} if call.bearer else None
    return client.build_request(
        call.method, call.path, params=call.params, json=call.body, headers=headers
    )


@contextmanager
def _observed(operation: str, observe: GraphObserver) -> Iterator[None]:
    """Time one request, report its outcome, and translate transport failures (rule 8)."""
    started = time.perf_counter()
    outcome = "unavailable"  # also for failures nobody classified: the call did not work
    try:
        yield
        outcome = "ok"
    except (httpx.RequestError, TimeoutError) as error:
        # TimeoutError: the async exchange's overall budget (anyio.fail_after) ran out.
        raise transport_failure(operation, error) from error
    except GraphRateLimited:
        outcome = "rate_limited"
        raise
    except GraphRejected:
        outcome = "rejected"
        raise
    finally:
        observe(operation, outcome, time.perf_counter() - started)


def _exchange_call(app_id: str, app_secret: str, code: str) -> _Call:
    if not code:
        raise ValueError("an authorization code cannot be empty")
    return _Call(
        "exchange_code",
        "GET",
        "/oauth/access_token",
        params={"client_id": app_id, "client_secret": app_secret, "code": code},
        secrets=(app_secret, code),
    )


def _node(value: str) -> str:
    # Ids become path segments: "1/../me" must not reach another endpoint with our token.
    # The id itself is not quoted: it comes from outside and is checked, not trusted.
    if not _NODE_ID.fullmatch(value):
        raise ValueError("not a Graph node id (expected 1-64 letters, digits or _)")
    return value


def token_info_from(data: DebugTokenData) -> TokenInfo:
    """``debug_token``'s ``data`` as the domain's ``TokenInfo`` (``expires_at: 0`` → never)."""
    expires_at = datetime.fromtimestamp(data.expires_at, UTC) if data.expires_at else None
    waba_ids = frozenset(
        target
        for grant in data.granular_scopes
        if grant.scope == WABA_SCOPE
        for target in grant.target_ids
    )
    return TokenInfo(
        is_valid=data.is_valid,
        expires_at=expires_at,
        scopes=frozenset(data.scopes),
        waba_ids=waba_ids,
        app_id=data.app_id,
    )


def phone_number_from(number: PhoneNumber) -> GraphPhoneNumber:
    return GraphPhoneNumber(
        phone_number_id=number.id,
        display_phone_number=number.display_phone_number,
        verified_name=number.verified_name,
        quality_rating=number.quality_rating,
        platform_type=number.platform_type,
        is_on_biz_app=number.is_on_biz_app,
        code_verification_status=number.code_verification_status,
    )


def next_cursor(page: PhoneNumbersPage) -> str | None:
    """The ``after`` cursor of the next page, or None on the last page.

    The ``next`` URL itself is never requested: it names a host of Meta's choosing and our
    Bearer token would go with it; its cursor is re-sent to our own base URL instead.

    Raises:
        GraphUnavailable: Meta announced a next page without a cursor to reach it.
    """
    paging = page.paging
    if paging is None or not paging.next:
        return None
    if paging.cursors is not None and paging.cursors.after:
        return paging.cursors.after
    after = httpx.URL(paging.next).params.get("after")
    if not after:
        raise GraphUnavailable("graph list_phone_numbers: a next page without a cursor")
    return str(after)


def _install_log_redaction() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _StripQueryStrings) for f in httpx_logger.filters):
        httpx_logger.addFilter(_StripQueryStrings())


class _StripQueryStrings(logging.Filter):
    """httpx logs each request's URL at INFO; our queries hold the app secret, codes, tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                str(arg).split("?", 1)[0] if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True


def _base_url(base_url: str, version: str) -> str:
    return f"{base_url.rstrip('/')}/{version}"


class HttpGraphApi:
    """``domain.graph.GraphApi`` over one ``httpx.Client`` (thread-safe; ``close()`` it).

    Every method raises the port's errors (``GraphUnavailable``, ``GraphRateLimited``,
    ``GraphRejected``) and ``ValueError`` for an id that is not a Graph node id.
    """

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        app_id: str,
        app_secret: str,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        observe: GraphObserver = ignore_observation,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        _install_log_redaction()
        self._app_id = app_id
        self._app_secret = app_secret
        self._observe = observe
        self._max_pages = max_pages
        # Redirects are not followed: Graph does not redirect API calls.
        self._client = httpx.Client(
            base_url=_base_url(base_url, version),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": _USER_AGENT},
        )

    def exchange_code(self, code: str) -> AccessToken:
        answer = self._send(_exchange_call(self._app_id, self._app_secret, code), AccessTokenAnswer)
        return AccessToken(answer.access_token)

    def debug_token(self, token: AccessToken) -> TokenInfo:
        value = token.reveal()
        call = _Call(
            "debug_token",
            "GET",
            "/debug_token",
            params={"input_token": value},
            bearer=f"{self._app_id}|{self._app_secret}",
            secrets=(value, self._app_secret),
        )
        return token_info_from(self._send(call, DebugTokenAnswer).data)

    def subscribe_app(self, waba_id: str, token: AccessToken) -> None:
        call = self._authorised("subscribe_app", "POST", waba_id, "subscribed_apps", token)
        # `{"success": false}` fails SuccessAnswer's `Literal[True]`: GraphUnavailable.
        self._send(call, SuccessAnswer)

    def list_phone_numbers(self, waba_id: str, token: AccessToken) -> list[GraphPhoneNumber]:
        numbers: list[GraphPhoneNumber] = []
        after: str | None = None
        for _ in range(self._max_pages):
            params = {"fields": PHONE_NUMBER_FIELDS}
            if after is not None:
                params["after"] = after
            call = self._authorised(
                "list_phone_numbers", "GET", waba_id, "phone_numbers", token, params=params
            )
            page = self._send(call, PhoneNumbersPage)
            numbers.extend(phone_number_from(number) for number in page.data)
            following = next_cursor(page)
            if following is None:
                return numbers
            if following == after:
                raise GraphUnavailable("graph list_phone_numbers: paging did not advance")
            after = following
        raise GraphUnavailable(f"graph list_phone_numbers: more than {self._max_pages} pages")

    def register_phone(self, phone_number_id: str, token: AccessToken, pin: str) -> None:
        body = {"messaging_product": "whatsapp", "pin": pin}
        call = self._authorised(
            "register_phone", "POST", phone_number_id, "register", token, body=body, pin=pin
        )
        self._send(call, SuccessAnswer)

    def request_sync(
        self, phone_number_id: str, token: AccessToken, sync_type: SyncType
    ) -> str | None:
        body = {"messaging_product": "whatsapp", "sync_type": sync_type}
        call = self._authorised(
            "request_sync", "POST", phone_number_id, "smb_app_data", token, body=body
        )
        return self._send(call, SyncAnswer).request_id

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpGraphApi:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _authorised(
        self,
        operation: str,
        method: Literal["GET", "POST"],
        node_id: str,
        edge: str,
        token: AccessToken,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, str] | None = None,
        pin: str | None = None,
    ) -> _Call:
        value = token.reveal()
        return _Call(
            operation,
            method,
            f"/{_node(node_id)}/{edge}",
            params=params,
            body=body,
            bearer=value,
            secrets=(value, pin) if pin else (value,),
        )

    def _send(self, call: _Call, model: type[_Model]) -> _Model:
        with _observed(call.operation, self._observe):
            response = self._client.send(_build_request(self._client, call))
            return read_answer(call.operation, response, model, secrets=call.secrets)


class AsyncHttpCodeExchange:
    """``domain.graph.AsyncCodeExchange`` over one ``httpx.AsyncClient`` (``aclose()`` it).

    One exchange gets ``budget_seconds`` overall, on top of httpx's per-phase timeouts.

    Raises (from ``exchange_code``): ``GraphUnavailable``, ``GraphRateLimited``,
    ``GraphRejected`` (a used, expired or unknown code: Meta's OAuthException 100).
    """

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        app_id: str,
        app_secret: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_EXCHANGE_TIMEOUT,
        budget_seconds: float = DEFAULT_EXCHANGE_BUDGET_S,
        observe: GraphObserver = ignore_observation,
    ) -> None:
        _install_log_redaction()
        self._app_id = app_id
        self._app_secret = app_secret
        self._budget_seconds = budget_seconds
        self._observe = observe
        self._client = httpx.AsyncClient(
            base_url=_base_url(base_url, version),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": _USER_AGENT},
        )

    async def exchange_code(self, code: str) -> AccessToken:
        call = _exchange_call(self._app_id, self._app_secret, code)
        with _observed(call.operation, self._observe):
            with anyio.fail_after(self._budget_seconds):
                response = await self._client.send(_build_request(self._client, call))
            answer = read_answer(call.operation, response, AccessTokenAnswer, secrets=call.secrets)
        return AccessToken(answer.access_token)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncHttpCodeExchange:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


if TYPE_CHECKING:
    # mypy proves the classes implement the ports.
    _graph_api: type[GraphApi] = HttpGraphApi
    _code_exchange: type[AsyncCodeExchange] = AsyncHttpCodeExchange


__all__ = [
    "DEFAULT_EXCHANGE_BUDGET_S",
    "DEFAULT_EXCHANGE_TIMEOUT",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_TIMEOUT",
    "OPERATIONS",
    "OUTCOMES",
    "PHONE_NUMBER_FIELDS",
    "AsyncHttpCodeExchange",
    "GraphObserver",
    "HttpGraphApi",
    "ignore_observation",
    "next_cursor",
    "phone_number_from",
    "token_info_from",
]
