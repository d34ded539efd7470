"""A fake of Meta's Graph API that behaves like Meta for the calls wapipe makes, errors included.

Two ways to use it, one behaviour:

- in-process: ``httpx.MockTransport(graph.handler)`` (or ``graph.transport()``) for a sync
  ``httpx.Client`` or an ``httpx.AsyncClient``; no sockets;
- over HTTP: ``with graph.serve() as server:`` serves it with uvicorn on 127.0.0.1 in a
  background thread; ``server.url`` is what ``WAPIPE_GRAPH_BASE_URL`` should be, so real worker
  processes reach it. The test process configures ``graph`` directly (same object).

Given::

    graph = FakeGraph()
    graph.add_token("EAAG-token", waba_ids={"1001"}, expires_at=0)
    graph.add_code("code-1", "EAAG-token")                 # single use, expires in 30 s
    graph.add_phone("1001", "2001", display_phone_number="+1 555 0100")
    graph.add_phone("1001", "2002", is_on_biz_app=True)     # a coexistence number
    graph.fail_next("subscribe_app", times=2, status=503)   # or error_code=80007 / 100 / 190

Then: ``graph.calls`` (every request, faults included), ``graph.subscriptions``,
``graph.registrations`` and ``graph.sync_requests`` (successful effects).

Meta's behaviour mimicked: a code works once and only within its lifetime (OAuthException
100, subcodes 36007 expired / 36009 used, HTTP 400); a wrong client secret is OAuthException 1;
a missing, unknown or revoked token is OAuthException 190 (HTTP 400 on Graph-core endpoints,
401 on the WhatsApp ones, as Meta answers); ``debug_token`` answers 200 with ``is_valid: false``
for an unknown input token; phone numbers come in pages with ``paging.cursors`` and ``next``;
a second sync of the same kind is error 4. Exact subcodes and texts are approximations.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DEFAULT_APP_ID = "1234567890"
DEFAULT_APP_SECRET = "fake-app-secret"
DEFAULT_VERSION = "v23.0"
DEFAULT_SCOPES = frozenset(
    {"whatsapp_business_management", "whatsapp_business_messaging", "business_management"}
)
CODE_LIFETIME_S = 30.0  # FB.login's code expires 30 s after issue (SPEC §7.2)
DEFAULT_PAGE_SIZE = 2  # small, so tests page without adding dozens of numbers

_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "oauth/access_token"): "exchange_code",
    ("GET", "debug_token"): "debug_token",
    ("POST", "subscribed_apps"): "subscribe_app",
    ("GET", "phone_numbers"): "list_phone_numbers",
    ("POST", "register"): "register_phone",
    ("POST", "smb_app_data"): "request_sync",
}
_NODE_EDGE = re.compile(r"(?P<node>[^/]+)/(?P<edge>[a-z_]+)")
_SYNC_TYPES = frozenset({"smb_app_state_sync", "history"})


# -- state -------------------------------------------------------------------------------


@dataclass
class FakeToken:
    waba_ids: frozenset[str]
    scopes: frozenset[str] = DEFAULT_SCOPES
    #: Unix seconds; 0 = never expires (as Meta reports it).
    expires_at: int = 0
    is_valid: bool = True
    user_id: str = "9000000001"


@dataclass
class FakeCode:
    token: str
    expires_at: float  # on the fake's clock
    used: bool = False


@dataclass
class FakePhone:
    waba_id: str
    id: str
    display_phone_number: str
    verified_name: str = "Fake Business"
    quality_rating: str = "GREEN"
    platform_type: str = "CLOUD_API"
    code_verification_status: str = "VERIFIED"
    is_on_biz_app: bool = False

    def fields(self) -> dict[str, Any]:
        return {name: value for name, value in vars(self).items() if name != "waba_id"}


@dataclass(frozen=True)
class Fault:
    """What the next request of an operation gets instead of (or before) Meta's answer."""

    status: int | None = None
    error_code: int | None = None
    error_subcode: int | None = None
    message: str | None = None
    #: A body that is not Meta's error JSON (a proxy's HTML page, a malformed 200 answer).
    raw_body: str | None = None
    #: Answer this late: over HTTP the server waits; in-process the transport raises
    #: ``httpx.ReadTimeout`` (as a client whose read timeout is shorter would see it).
    stall_s: float | None = None


@dataclass(frozen=True)
class GraphCall:
    """One request as the fake saw it (secrets included: the test owns them)."""

    operation: str | None
    method: str
    path: str  # with the version prefix, e.g. "/v23.0/1001/subscribed_apps"
    params: dict[str, str]
    body: dict[str, Any] | None
    bearer: str | None
    status: int


@dataclass(frozen=True)
class Subscription:
    waba_id: str
    token: str


@dataclass(frozen=True)
class Registration:
    phone_number_id: str
    pin: str
    token: str


@dataclass(frozen=True)
class SyncRequest:
    phone_number_id: str
    sync_type: str
    request_id: str


def meta_error(
    status: int,
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    details: str | None = None,
) -> httpx.Response:
    """Meta's error answer: ``{"error": {message, type, code, error_subcode?, error_data?,
    fbtrace_id}}``."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "A" + uuid.uuid4().hex[:20]
    return httpx.Response(status, json={"error": error})


def _invalid_token(status: int) -> httpx.Response:
    return meta_error(status, 190, "Invalid OAuth access token - Cannot parse access token")


# -- the fake ----------------------------------------------------------------------------


class FakeGraph:
    """Meta's Graph API for one app (``app_id``/``app_secret``), version ``version``."""

    def __init__(
        self,
        *,
        app_id: str = DEFAULT_APP_ID,
        app_secret: str = DEFAULT_APP_SECRET,
        version: str = DEFAULT_VERSION,
        page_size: int = DEFAULT_PAGE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.version = version
        self.page_size = page_size
        self.clock = clock
        self.tokens: dict[str, FakeToken] = {}
        self.codes: dict[str, FakeCode] = {}
        self.phones: dict[str, FakePhone] = {}
        self.calls: list[GraphCall] = []
        self.subscriptions: list[Subscription] = []
        self.registrations: list[Registration] = []
        self.sync_requests: list[SyncRequest] = []
        self._faults: dict[str, deque[Fault]] = {}
        # The HTTP server's thread answers while the test thread configures and asserts.
        self._lock = threading.RLock()

    # -- given ---------------------------------------------------------------------------

    @property
    def app_token(self) -> str:
        return f"{self.app_id}|{self.app_secret}"

    def add_token(
        self,
        token: str,
        *,
        waba_ids: Iterable[str] = (),
        scopes: Iterable[str] = DEFAULT_SCOPES,
        expires_at: int = 0,
        is_valid: bool = True,
    ) -> str:
        """A business token that may act on ``waba_ids``; ``expires_at`` 0 = never."""
        with self._lock:
            self.tokens[token] = FakeToken(
                frozenset(waba_ids), frozenset(scopes), expires_at, is_valid
            )
        return token

    def add_code(self, code: str, token: str, *, lifetime_s: float = CODE_LIFETIME_S) -> str:
        """A single-use code that exchanges for ``token`` (added if unknown) for ``lifetime_s``."""
        with self._lock:
            if token not in self.tokens:
                self.add_token(token)
            self.codes[code] = FakeCode(token, self.clock() + lifetime_s)
        return code

    def expire_code(self, code: str) -> None:
        with self._lock:
            self.codes[code].expires_at = self.clock() - 1

    def revoke_token(self, token: str) -> None:
        """The customer uninstalled the app: the token is invalid from now on."""
        with self._lock:
            self.tokens[token].is_valid = False

    def add_phone(
        self,
        waba_id: str,
        phone_number_id: str,
        *,
        display_phone_number: str | None = None,
        is_on_biz_app: bool = False,
        **fields: str,
    ) -> None:
        """A number of ``waba_id``; ``is_on_biz_app=True`` makes it a coexistence number.

        ``fields`` override the other Graph fields (``platform_type``, ``quality_rating``…).
        """
        with self._lock:
            self.phones[phone_number_id] = FakePhone(
                waba_id,
                phone_number_id,
                display_phone_number or f"+1 555 {phone_number_id[-4:]}",
                is_on_biz_app=is_on_biz_app,
                **fields,
            )

    def fail_next(
        self,
        operation: str,
        times: int = 1,
        *,
        status: int | None = None,
        error_code: int | None = None,
        error_subcode: int | None = None,
        message: str | None = None,
        raw_body: str | None = None,
        stall_s: float | None = None,
    ) -> None:
        """The next ``times`` requests of ``operation`` fail.

        ``error_code`` → Meta's error body with that code (HTTP ``status``, default 400);
        ``status`` alone → that status with Meta's body for it (5xx: code 2, "Service
        temporarily unavailable"); ``raw_body`` → that body as is (``status`` default 502);
        ``stall_s`` → the real answer, that late. Operations are the client's labels:
        exchange_code, debug_token, subscribe_app, list_phone_numbers, register_phone,
        request_sync.
        """
        if operation not in _ROUTES.values():
            raise ValueError(f"unknown operation {operation!r}")
        fault = Fault(status, error_code, error_subcode, message, raw_body, stall_s)
        with self._lock:
            self._faults.setdefault(operation, deque()).extend([fault] * times)

    # -- then ----------------------------------------------------------------------------

    def calls_of(self, operation: str) -> list[GraphCall]:
        with self._lock:
            return [call for call in self.calls if call.operation == operation]

    # -- transports ----------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        """The ``httpx.MockTransport`` handler (sync and async clients alike)."""
        response, stall_s = self.answer(request)
        if stall_s is not None:
            raise httpx.ReadTimeout("timed out", request=request)
        return response

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def serve(self) -> FakeGraphServer:
        """This fake over HTTP on 127.0.0.1 (a context manager; ``.url`` once started)."""
        return FakeGraphServer(self)

    def answer(self, request: httpx.Request) -> tuple[httpx.Response, float | None]:
        """Meta's answer to ``request`` and how long to stall it (None: at once)."""
        with self._lock:
            operation, node = self._route(request)
            fault = self._take_fault(operation)
            if fault is not None and fault.stall_s is None:
                response = _fault_response(fault)
            elif operation is None:
                response = meta_error(
                    400, 100, f"Unsupported {request.method.lower()} request.", subcode=33
                )
            else:
                response = self._dispatch(operation, node, request)
            self.calls.append(_record(operation, request, response.status_code))
            return response, fault.stall_s if fault is not None else None

    # -- Meta's behaviour ----------------------------------------------------------------

    def _route(self, request: httpx.Request) -> tuple[str | None, str | None]:
        prefix = f"/{self.version}/"
        path = request.url.path
        if not path.startswith(prefix):
            return None, None
        rest = path[len(prefix) :]
        if rest in ("oauth/access_token", "debug_token"):
            return _ROUTES.get((request.method, rest)), None
        match = _NODE_EDGE.fullmatch(rest)
        if match is None:
            return None, None
        return _ROUTES.get((request.method, match["edge"])), match["node"]

    def _take_fault(self, operation: str | None) -> Fault | None:
        queue = self._faults.get(operation or "")
        return queue.popleft() if queue else None

    def _dispatch(self, operation: str, node: str | None, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        if operation == "exchange_code":
            return self._exchange_code(params)
        if operation == "debug_token":
            return self._debug_token(request, params)
        token = _bearer(request) or params.get("access_token") or ""
        known = self.tokens.get(token)
        if known is None or not known.is_valid:
            return _invalid_token(401)  # the WhatsApp endpoints answer 190 with 401
        assert node is not None
        act = {
            "subscribe_app": self._subscribe,
            "list_phone_numbers": self._phone_numbers,
            "register_phone": self._register,
            "request_sync": self._request_sync,
        }[operation]
        return act(node, token, known, request)

    def _exchange_code(self, params: dict[str, str]) -> httpx.Response:
        if params.get("client_id") != self.app_id or params.get("client_secret") != self.app_secret:
            return meta_error(400, 1, "Error validating client secret.")
        code = self.codes.get(params.get("code", ""))
        if code is None:
            return meta_error(400, 100, "Invalid verification code format.", subcode=36008)
        if code.used:
            return meta_error(400, 100, "This authorization code has been used.", subcode=36009)
        if self.clock() >= code.expires_at:
            return meta_error(400, 100, "This authorization code has expired.", subcode=36007)
        code.used = True
        return httpx.Response(200, json={"access_token": code.token, "token_type": "bearer"})

    def _debug_token(self, request: httpx.Request, params: dict[str, str]) -> httpx.Response:
        # Meta documents the app token as the `access_token` parameter; a Bearer header
        # is equivalent on Graph.
        if (_bearer(request) or params.get("access_token")) != self.app_token:
            return _invalid_token(400)
        token = self.tokens.get(params.get("input_token", ""))
        if token is None:
            data: dict[str, Any] = {
                "is_valid": False,
                "scopes": [],
                "error": {"code": 190, "message": "Invalid OAuth access token."},
            }
            return httpx.Response(200, json={"data": data})
        granted = sorted(token.waba_ids)
        data = {
            "app_id": self.app_id,
            "type": "SYSTEM_USER",
            "application": "Fake wapipe app",
            "data_access_expires_at": 0,
            "expires_at": token.expires_at,
            "is_valid": token.is_valid,
            "issued_at": 1_760_000_000,
            "scopes": sorted(token.scopes),
            "granular_scopes": [
                {"scope": scope, "target_ids": granted}
                for scope in ("whatsapp_business_management", "whatsapp_business_messaging")
                if scope in token.scopes
            ],
            "user_id": token.user_id,
        }
        return httpx.Response(200, json={"data": data})

    def _subscribe(
        self, waba_id: str, token: str, known: FakeToken, request: httpx.Request
    ) -> httpx.Response:
        if waba_id not in known.waba_ids:
            return _no_such_object("post", waba_id)
        self.subscriptions.append(Subscription(waba_id, token))
        return httpx.Response(200, json={"success": True})

    def _phone_numbers(
        self, waba_id: str, token: str, known: FakeToken, request: httpx.Request
    ) -> httpx.Response:
        params = dict(request.url.params)
        if waba_id not in known.waba_ids:
            return _no_such_object("get", waba_id)
        numbers = [phone for phone in self.phones.values() if phone.waba_id == waba_id]
        start = int(params.get("after") or "0")
        page = numbers[start : start + self.page_size]
        wanted = set(params["fields"].split(",")) | {"id"} if "fields" in params else None
        data = [
            {key: value for key, value in phone.fields().items() if wanted is None or key in wanted}
            for phone in page
        ]
        body: dict[str, Any] = {"data": data}
        if page:
            end = start + len(page)
            body["paging"] = {"cursors": {"before": str(start), "after": str(end)}}
            if end < len(numbers):
                # Like Meta's: an absolute URL with the cursor (and without our token).
                body["paging"]["next"] = str(request.url.copy_merge_params({"after": str(end)}))
        return httpx.Response(200, json=body)

    def _register(
        self, phone_number_id: str, token: str, known: FakeToken, request: httpx.Request
    ) -> httpx.Response:
        body = _json_body(request)
        phone = self.phones.get(phone_number_id)
        if phone is None or phone.waba_id not in known.waba_ids:
            return _no_such_object("post", phone_number_id)
        pin = body.get("pin")
        if body.get("messaging_product") != "whatsapp" or not (
            isinstance(pin, str) and pin.isdigit() and len(pin) == 6
        ):
            return meta_error(400, 100, "(#100) Invalid parameter", error_type="OAuthException")
        self.registrations.append(Registration(phone_number_id, pin, token))
        return httpx.Response(200, json={"success": True})

    def _request_sync(
        self, phone_number_id: str, token: str, known: FakeToken, request: httpx.Request
    ) -> httpx.Response:
        body = _json_body(request)
        phone = self.phones.get(phone_number_id)
        if phone is None or phone.waba_id not in known.waba_ids:
            return _no_such_object("post", phone_number_id)
        sync_type = body.get("sync_type")
        if body.get("messaging_product") != "whatsapp" or sync_type not in _SYNC_TYPES:
            return meta_error(400, 100, "(#100) Invalid parameter")
        if not phone.is_on_biz_app:
            return meta_error(400, 100, "(#100) The phone number is not on the Business app")
        if any(
            done.phone_number_id == phone_number_id and done.sync_type == sync_type
            for done in self.sync_requests
        ):
            return meta_error(400, 4, "(#4) Sync request limit reached")
        request_id = uuid.uuid4().hex
        self.sync_requests.append(SyncRequest(phone_number_id, sync_type, request_id))
        return httpx.Response(200, json={"messaging_product": "whatsapp", "request_id": request_id})


def _bearer(request: httpx.Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value if scheme.lower() == "bearer" and value else None


def _json_body(request: httpx.Request) -> dict[str, Any]:
    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _no_such_object(method: str, node: str) -> httpx.Response:
    return meta_error(
        400,
        100,
        f"Unsupported {method} request. Object with ID '{node}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        error_type="GraphMethodException",
    )


def _fault_response(fault: Fault) -> httpx.Response:
    if fault.raw_body is not None:
        return httpx.Response(
            fault.status or 502, text=fault.raw_body, headers={"content-type": "text/html"}
        )
    if fault.error_code is not None:
        return meta_error(
            fault.status or 400,
            fault.error_code,
            fault.message or f"(#{fault.error_code}) Fake Graph error",
            subcode=fault.error_subcode,
        )
    status = fault.status or 500
    if status >= 500:
        return meta_error(status, 2, fault.message or "Service temporarily unavailable")
    return meta_error(status, 100, fault.message or "(#100) Invalid parameter")


def _record(operation: str | None, request: httpx.Request, status: int) -> GraphCall:
    body = _json_body(request) if request.content else None
    return GraphCall(
        operation,
        request.method,
        request.url.path,
        dict(request.url.params),
        body,
        _bearer(request),
        status,
    )


# -- over HTTP ---------------------------------------------------------------------------


class FakeGraphServer:
    """``graph`` served by uvicorn on 127.0.0.1 in a daemon thread; ``url`` once started."""

    START_TIMEOUT_S = 10.0

    def __init__(self, graph: FakeGraph) -> None:
        self.graph = graph
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL (no version): the value of ``WAPIPE_GRAPH_BASE_URL``."""
        assert self._socket is not None, "the fake Graph server is not started"
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGraphServer:
        # Bound here, before the thread starts: the port is known and cannot be taken.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])])
        config = uvicorn.Config(
            app,
            log_config=None,  # leave the test process's logging alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake Graph server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self.START_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None

    def __enter__(self) -> FakeGraphServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def _endpoint(self, request: Request) -> Response:
        forwarded = httpx.Request(
            request.method,
            str(request.url),
            headers=request.headers.raw,
            content=await request.body(),
        )
        response, stall_s = self.graph.answer(forwarded)
        if stall_s is not None:
            await anyio.sleep(stall_s)
        return Response(
            response.content,
            status_code=response.status_code,
            media_type=response.headers.get("content-type"),
        )
