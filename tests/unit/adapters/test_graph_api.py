"""The Graph client against the fake Graph through ``httpx.MockTransport``: no sockets.

Every call's method, path (with the version prefix), auth and body; paging; token info;
every error class with Meta's code; timeouts; metrics; and that no token, app secret, code
or query string reaches an error, a log line or a metric.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client import CollectorRegistry

from adapters.graph_api import (
    OPERATIONS,
    OUTCOMES,
    PHONE_NUMBER_FIELDS,
    AsyncHttpCodeExchange,
    HttpGraphApi,
)
from adapters.graph_errors import RATE_LIMIT_CODES
from domain.errors import (
    GraphRateLimited,
    GraphRejected,
    GraphUnavailable,
    PermanentError,
    TransientError,
)
from domain.graph import AccessToken, GraphPhoneNumber
from runtime.bootstrap import build_async_code_exchange, build_graph_api
from runtime.metrics import ingress as ingress_metrics
from runtime.metrics import worker as worker_metrics
from runtime.settings import Settings, SettingsError
from tests.fake_graph import FakeGraph, Registration, Subscription, SyncRequest

# Recognisable values: any of them in an error, a log line or a metric is a leak.
APP_ID = "4242424242"
APP_SECRET = "appsecret-LEAK-7f3a9c"
TOKEN = "EAAG-token-LEAK-5b21d0"
CODE = "oauthcode-LEAK-9c4e11"
PIN = "864209"
SECRETS = (APP_SECRET, TOKEN, CODE, PIN)
BASE_URL = "https://graph.facebook.com"
VERSION = "v23.0"
WABA = "1001"

Observation = tuple[str, str, float]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def graph(clock: Clock) -> FakeGraph:
    fake = FakeGraph(app_id=APP_ID, app_secret=APP_SECRET, version=VERSION, clock=clock)
    fake.add_token(TOKEN, waba_ids={WABA}, expires_at=0)
    fake.add_code(CODE, TOKEN)
    fake.add_phone(WABA, "2001", display_phone_number="+1 555 0101")
    return fake


@pytest.fixture
def sent() -> list[httpx.Request]:
    """Every request the client put on the wire (the transport's view)."""
    return []


@pytest.fixture
def observed() -> list[Observation]:
    return []


def recording(
    handler: Callable[[httpx.Request], httpx.Response], sent: list[httpx.Request]
) -> httpx.MockTransport:
    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)

    return httpx.MockTransport(record)


def make_api(
    handler: Callable[[httpx.Request], httpx.Response],
    sent: list[httpx.Request],
    observed: list[Observation],
    **options: Any,
) -> HttpGraphApi:
    return HttpGraphApi(
        base_url=BASE_URL,
        version=VERSION,
        app_id=APP_ID,
        app_secret=APP_SECRET,
        transport=recording(handler, sent),
        observe=lambda *observation: observed.append(observation),
        **options,
    )


@pytest.fixture
def api(
    graph: FakeGraph, sent: list[httpx.Request], observed: list[Observation]
) -> Iterator[HttpGraphApi]:
    with make_api(graph.handler, sent, observed) as client:
        yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the ingress runs on asyncio


def outcomes(observed: list[Observation]) -> list[tuple[str, str]]:
    return [(operation, outcome) for operation, outcome, _ in observed]


def only_request(sent: list[httpx.Request]) -> httpx.Request:
    assert len(sent) == 1
    return sent[0]


# -- happy paths ---------------------------------------------------------------------------


def test_exchange_code_sends_the_app_credentials_and_returns_the_business_token(
    api: HttpGraphApi, sent: list[httpx.Request], observed: list[Observation]
):
    token = api.exchange_code(CODE)

    assert token == AccessToken(TOKEN)
    request = only_request(sent)
    assert request.method == "GET"
    assert request.url.copy_with(query=None) == httpx.URL(f"{BASE_URL}/v23.0/oauth/access_token")
    assert dict(request.url.params) == {
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "code": CODE,
    }
    assert "authorization" not in request.headers
    assert outcomes(observed) == [("exchange_code", "ok")]


def test_debug_token_is_authorised_by_the_app_token_as_bearer_not_in_the_url(
    api: HttpGraphApi, sent: list[httpx.Request]
):
    info = api.debug_token(AccessToken(TOKEN))

    request = only_request(sent)
    assert (request.method, request.url.path) == ("GET", "/v23.0/debug_token")
    assert dict(request.url.params) == {"input_token": TOKEN}
    assert request.headers["authorization"] == f"Bearer {APP_ID}|{APP_SECRET}"
    assert info.is_valid
    assert info.app_id == APP_ID
    assert info.waba_ids == frozenset({WABA})
    assert "whatsapp_business_management" in info.scopes


def test_a_token_with_expires_at_zero_never_expires(api: HttpGraphApi):
    assert api.debug_token(AccessToken(TOKEN)).expires_at is None


def test_a_token_with_an_expiry_reports_it_in_utc(graph: FakeGraph, api: HttpGraphApi):
    graph.add_token("EAAG-sixty-days", waba_ids={WABA}, expires_at=1_780_000_000)

    info = api.debug_token(AccessToken("EAAG-sixty-days"))

    assert info.expires_at == datetime.fromtimestamp(1_780_000_000, UTC)


def test_debug_token_of_an_unknown_token_answers_invalid(api: HttpGraphApi):
    info = api.debug_token(AccessToken("EAAG-never-issued"))

    assert not info.is_valid
    assert info.scopes == frozenset()
    assert info.waba_ids == frozenset()


def test_subscribe_app_posts_to_the_waba_with_the_business_token(
    graph: FakeGraph, api: HttpGraphApi, sent: list[httpx.Request]
):
    api.subscribe_app(WABA, AccessToken(TOKEN))

    request = only_request(sent)
    assert (request.method, request.url.path) == ("POST", f"/v23.0/{WABA}/subscribed_apps")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.url.query == b""
    assert graph.subscriptions == [Subscription(WABA, TOKEN)]


def test_list_phone_numbers_asks_for_the_coexistence_fields(
    graph: FakeGraph, api: HttpGraphApi, sent: list[httpx.Request]
):
    graph.add_phone(WABA, "2002", is_on_biz_app=True)

    numbers = api.list_phone_numbers(WABA, AccessToken(TOKEN))

    request = only_request(sent)
    assert (request.method, request.url.path) == ("GET", f"/v23.0/{WABA}/phone_numbers")
    assert dict(request.url.params) == {"fields": PHONE_NUMBER_FIELDS}
    assert set(PHONE_NUMBER_FIELDS.split(",")) == {
        "id", "display_phone_number", "verified_name", "quality_rating", "platform_type",
        "code_verification_status", "is_on_biz_app",
    }  # fmt: skip
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert numbers == [
        GraphPhoneNumber(
            phone_number_id="2001",
            display_phone_number="+1 555 0101",
            verified_name="Fake Business",
            quality_rating="GREEN",
            platform_type="CLOUD_API",
            is_on_biz_app=False,
            code_verification_status="VERIFIED",
        ),
        GraphPhoneNumber(
            phone_number_id="2002",
            display_phone_number="+1 555 2002",
            verified_name="Fake Business",
            quality_rating="GREEN",
            platform_type="CLOUD_API",
            is_on_biz_app=True,
            code_verification_status="VERIFIED",
        ),
    ]
    assert [number.coexistence for number in numbers] == [False, True]


def test_list_phone_numbers_follows_the_cursors_to_the_last_page(
    graph: FakeGraph, api: HttpGraphApi, sent: list[httpx.Request], observed: list[Observation]
):
    for suffix in range(2, 6):
        graph.add_phone(WABA, f"200{suffix}")

    numbers = api.list_phone_numbers(WABA, AccessToken(TOKEN))

    assert [number.phone_number_id for number in numbers] == [f"200{n}" for n in range(1, 6)]
    assert [request.url.params.get("after") for request in sent] == [None, "2", "4"]
    assert outcomes(observed) == [("list_phone_numbers", "ok")] * 3


def page(data: list[dict[str, Any]], *, after: str | None, next_url: str | None) -> httpx.Response:
    paging: dict[str, Any] = {}
    if after is not None:
        paging["cursors"] = {"before": "b", "after": after}
    if next_url is not None:
        paging["next"] = next_url
    return httpx.Response(200, json={"data": data, "paging": paging})


def test_paging_never_requests_the_next_url_itself(
    sent: list[httpx.Request], observed: list[Observation]
):
    # Meta names the next page by an absolute URL; our token must only go to our base URL.
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("after") == "CUR1":
            return page([{"id": "2"}], after="CUR2", next_url=None)
        return page([{"id": "1"}], after="CUR1", next_url="https://elsewhere.test/v1/x?after=CUR1")

    with make_api(handler, sent, observed) as api:
        numbers = api.list_phone_numbers(WABA, AccessToken(TOKEN))

    assert [number.phone_number_id for number in numbers] == ["1", "2"]
    assert {request.url.host for request in sent} == {"graph.facebook.com"}


def test_paging_takes_the_cursor_from_the_next_url_when_cursors_are_missing(
    sent: list[httpx.Request], observed: list[Observation]
):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("after") == "CUR9":
            return page([{"id": "2"}], after=None, next_url=None)
        return page([{"id": "1"}], after=None, next_url=f"{BASE_URL}/v23.0/{WABA}/x?after=CUR9")

    with make_api(handler, sent, observed) as api:
        numbers = api.list_phone_numbers(WABA, AccessToken(TOKEN))

    assert [number.phone_number_id for number in numbers] == ["1", "2"]


def test_paging_that_does_not_advance_is_unavailable(
    sent: list[httpx.Request], observed: list[Observation]
):
    def handler(request: httpx.Request) -> httpx.Response:
        return page([{"id": "1"}], after="SAME", next_url=f"{BASE_URL}/next")

    with make_api(handler, sent, observed) as api, pytest.raises(GraphUnavailable) as caught:
        api.list_phone_numbers(WABA, AccessToken(TOKEN))

    assert "did not advance" in str(caught.value)
    assert len(sent) == 2


def test_paging_is_bounded(sent: list[httpx.Request], observed: list[Observation]):
    def handler(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("after") or "0")
        return page([{"id": str(after)}], after=str(after + 1), next_url=f"{BASE_URL}/next")

    api = make_api(handler, sent, observed, max_pages=3)
    with api, pytest.raises(GraphUnavailable) as caught:
        api.list_phone_numbers(WABA, AccessToken(TOKEN))

    assert "more than 3 pages" in str(caught.value)
    assert len(sent) == 3


def test_a_next_page_without_a_cursor_is_unavailable(
    sent: list[httpx.Request], observed: list[Observation]
):
    def handler(request: httpx.Request) -> httpx.Response:
        return page([{"id": "1"}], after=None, next_url=f"{BASE_URL}/next")

    with make_api(handler, sent, observed) as api, pytest.raises(GraphUnavailable):
        api.list_phone_numbers(WABA, AccessToken(TOKEN))


def test_register_phone_posts_the_pin_as_json(
    graph: FakeGraph, api: HttpGraphApi, sent: list[httpx.Request]
):
    api.register_phone("2001", AccessToken(TOKEN), PIN)

    request = only_request(sent)
    assert (request.method, request.url.path) == ("POST", "/v23.0/2001/register")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"messaging_product": "whatsapp", "pin": PIN}
    assert graph.registrations == [Registration("2001", PIN, TOKEN)]


def test_request_sync_posts_the_sync_type_and_returns_metas_request_id(
    graph: FakeGraph, api: HttpGraphApi, sent: list[httpx.Request]
):
    graph.add_phone(WABA, "2002", is_on_biz_app=True)

    request_id = api.request_sync("2002", AccessToken(TOKEN), "smb_app_state_sync")

    request = only_request(sent)
    assert (request.method, request.url.path) == ("POST", "/v23.0/2002/smb_app_data")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "sync_type": "smb_app_state_sync",
    }
    assert graph.sync_requests == [SyncRequest("2002", "smb_app_state_sync", str(request_id))]


def test_a_second_sync_of_the_same_kind_is_rate_limited_as_meta_does(
    graph: FakeGraph, api: HttpGraphApi
):
    graph.add_phone(WABA, "2002", is_on_biz_app=True)
    api.request_sync("2002", AccessToken(TOKEN), "history")

    with pytest.raises(GraphRateLimited) as caught:
        api.request_sync("2002", AccessToken(TOKEN), "history")

    assert caught.value.info.code == 4


@pytest.mark.parametrize("bad_id", ["", "1/../me", "1?fields=x", "12 34", "x" * 65])
def test_an_id_that_is_not_a_graph_node_is_refused_before_any_request(
    api: HttpGraphApi, sent: list[httpx.Request], bad_id: str
):
    with pytest.raises(ValueError, match="not a Graph node id"):
        api.subscribe_app(bad_id, AccessToken(TOKEN))

    assert sent == []


# -- errors ----------------------------------------------------------------------------------


def test_a_used_code_is_rejected_with_metas_code_100(api: HttpGraphApi):
    api.exchange_code(CODE)

    with pytest.raises(GraphRejected) as caught:
        api.exchange_code(CODE)

    assert (caught.value.info.code, caught.value.info.subcode) == (100, 36009)
    assert caught.value.operation == "exchange_code"
    assert isinstance(caught.value, PermanentError)
    assert "has been used" in str(caught.value)


def test_a_late_code_is_rejected_as_expired(clock: Clock, api: HttpGraphApi):
    clock.now += 31

    with pytest.raises(GraphRejected) as caught:
        api.exchange_code(CODE)

    assert (caught.value.info.code, caught.value.info.subcode) == (100, 36007)


def test_a_wrong_app_secret_is_rejected(graph: FakeGraph, sent: list[httpx.Request]):
    api = HttpGraphApi(
        base_url=BASE_URL,
        version=VERSION,
        app_id=APP_ID,
        app_secret="not-the-secret",
        transport=graph.transport(),
    )

    with pytest.raises(GraphRejected) as caught:
        api.exchange_code(CODE)

    assert caught.value.info.code == 1


def test_a_revoked_token_is_rejected_with_code_190(graph: FakeGraph, api: HttpGraphApi):
    graph.revoke_token(TOKEN)

    with pytest.raises(GraphRejected) as caught:
        api.subscribe_app(WABA, AccessToken(TOKEN))

    assert caught.value.info.code == 190
    assert graph.calls[-1].status == 401


def test_an_unknown_app_token_fails_debug_token_with_190(graph: FakeGraph):
    api = HttpGraphApi(
        base_url=BASE_URL,
        version=VERSION,
        app_id=APP_ID,
        app_secret="wrong",
        transport=graph.transport(),
    )

    with pytest.raises(GraphRejected) as caught:
        api.debug_token(AccessToken(TOKEN))

    assert caught.value.info.code == 190


@pytest.mark.parametrize("code", sorted(RATE_LIMIT_CODES))
def test_every_throttling_code_is_rate_limited(
    graph: FakeGraph, api: HttpGraphApi, observed: list[Observation], code: int
):
    graph.fail_next("subscribe_app", error_code=code)

    with pytest.raises(GraphRateLimited) as caught:
        api.subscribe_app(WABA, AccessToken(TOKEN))

    assert caught.value.info.code == code
    assert isinstance(caught.value, TransientError)
    assert outcomes(observed) == [("subscribe_app", "rate_limited")]


def test_the_agreed_throttling_codes_are_all_there():
    assert {4, 80007, 130429, 131048, 131056, 133016, 17, 32, 613} <= RATE_LIMIT_CODES


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_unavailable(
    graph: FakeGraph, api: HttpGraphApi, observed: list[Observation], status: int
):
    graph.fail_next("list_phone_numbers", status=status)

    with pytest.raises(GraphUnavailable) as caught:
        api.list_phone_numbers(WABA, AccessToken(TOKEN))

    assert f"HTTP {status}" in str(caught.value)
    assert outcomes(observed) == [("list_phone_numbers", "unavailable")]


def test_a_5xx_page_from_a_proxy_is_unavailable(graph: FakeGraph, api: HttpGraphApi):
    graph.fail_next("register_phone", raw_body="<html>Bad Gateway</html>", status=502)

    with pytest.raises(GraphUnavailable, match="HTTP 502"):
        api.register_phone("2001", AccessToken(TOKEN), PIN)


def test_a_permanent_meta_error_is_rejected_with_its_code_and_message(
    graph: FakeGraph, api: HttpGraphApi, observed: list[Observation]
):
    graph.fail_next("register_phone", error_code=100, error_subcode=2388001, message="Bad pin")

    with pytest.raises(GraphRejected) as caught:
        api.register_phone("2001", AccessToken(TOKEN), PIN)

    assert caught.value.info.code == 100
    assert caught.value.info.subcode == 2388001
    assert caught.value.info.message == "Bad pin"
    assert caught.value.info.fbtrace_id
    assert str(caught.value) == "graph register_phone refused (code 100): Bad pin"
    assert outcomes(observed) == [("register_phone", "rejected")]


def test_metas_error_details_are_kept_in_the_message(sent: list[httpx.Request]):
    def handler(request: httpx.Request) -> httpx.Response:
        error = {
            "message": "(#131009) Parameter value is not valid",
            "code": 131009,
            "error_data": {"messaging_product": "whatsapp", "details": "pin: 6 digits"},
        }
        return httpx.Response(400, json={"error": error})

    with make_api(handler, sent, []) as api, pytest.raises(GraphRejected) as caught:
        api.register_phone("2001", AccessToken(TOKEN), PIN)

    assert caught.value.info.message == "(#131009) Parameter value is not valid (pin: 6 digits)"


def test_a_4xx_without_a_graph_error_body_is_rejected_with_the_status(
    graph: FakeGraph, api: HttpGraphApi
):
    graph.fail_next("subscribe_app", raw_body="Forbidden", status=403)

    with pytest.raises(GraphRejected) as caught:
        api.subscribe_app(WABA, AccessToken(TOKEN))

    assert caught.value.info.code is None
    assert "HTTP 403" in str(caught.value)


def test_a_bare_429_is_rate_limited(graph: FakeGraph, api: HttpGraphApi):
    graph.fail_next("debug_token", raw_body="slow down", status=429)

    with pytest.raises(GraphRateLimited):
        api.debug_token(AccessToken(TOKEN))


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("exchange_code", '{"token_type": "bearer"}'),
        ("exchange_code", "not json"),
        ("subscribe_app", '{"success": false}'),
        ("debug_token", '{"data": {"is_valid": true, "expires_at": -5}}'),
        ("list_phone_numbers", '{"data": [{"display_phone_number": "+1"}]}'),
    ],
)
def test_a_malformed_success_body_is_unavailable(
    graph: FakeGraph, api: HttpGraphApi, observed: list[Observation], operation: str, body: str
):
    graph.fail_next(operation, raw_body=body, status=200)
    calls: dict[str, Callable[[], object]] = {
        "exchange_code": lambda: api.exchange_code(CODE),
        "subscribe_app": lambda: api.subscribe_app(WABA, AccessToken(TOKEN)),
        "debug_token": lambda: api.debug_token(AccessToken(TOKEN)),
        "list_phone_numbers": lambda: api.list_phone_numbers(WABA, AccessToken(TOKEN)),
    }

    with pytest.raises(GraphUnavailable, match="malformed HTTP 200 answer"):
        calls[operation]()

    assert outcomes(observed) == [(operation, "unavailable")]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_timeouts_and_transport_failures_are_unavailable(
    sent: list[httpx.Request], observed: list[Observation], failure: httpx.RequestError
):
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    with make_api(handler, sent, observed) as api, pytest.raises(GraphUnavailable) as caught:
        api.debug_token(AccessToken(TOKEN))

    assert caught.value.__cause__ is failure  # translated at the edge, `from` the cause
    assert str(caught.value) == f"graph debug_token: {type(failure).__name__}"
    assert outcomes(observed) == [("debug_token", "unavailable")]


def test_the_fakes_stall_is_a_read_timeout_in_process(graph: FakeGraph, api: HttpGraphApi):
    graph.fail_next("subscribe_app", stall_s=5)

    with pytest.raises(GraphUnavailable, match="ReadTimeout"):
        api.subscribe_app(WABA, AccessToken(TOKEN))


def test_faults_run_out_after_the_given_number_of_calls(graph: FakeGraph, api: HttpGraphApi):
    graph.fail_next("subscribe_app", times=2, status=503)

    for _ in range(2):
        with pytest.raises(GraphUnavailable):
            api.subscribe_app(WABA, AccessToken(TOKEN))
    api.subscribe_app(WABA, AccessToken(TOKEN))

    assert [call.status for call in graph.calls_of("subscribe_app")] == [503, 503, 200]


# -- metrics -------------------------------------------------------------------------------


def test_each_request_is_observed_once_with_bounded_labels(
    graph: FakeGraph, api: HttpGraphApi, observed: list[Observation]
):
    token = api.exchange_code(CODE)
    api.debug_token(token)
    api.subscribe_app(WABA, token)
    api.list_phone_numbers(WABA, token)
    api.register_phone("2001", token, PIN)
    graph.fail_next("request_sync", error_code=80007)
    with pytest.raises(GraphRateLimited):
        api.request_sync("2001", token, "history")

    assert outcomes(observed) == [
        ("exchange_code", "ok"),
        ("debug_token", "ok"),
        ("subscribe_app", "ok"),
        ("list_phone_numbers", "ok"),
        ("register_phone", "ok"),
        ("request_sync", "rate_limited"),
    ]
    assert all(
        operation in OPERATIONS and outcome in OUTCOMES for operation, outcome, _ in observed
    )
    assert all(seconds >= 0 for _, _, seconds in observed)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def graph_settings(**extra: str) -> Settings:
    return Settings.from_environ(
        {
            "WAPIPE_META_APP_ID": APP_ID,
            "WAPIPE_APP_SECRET": f"{APP_SECRET},older-secret",
            "WAPIPE_GRAPH_BASE_URL": "http://graph.test/",
            "WAPIPE_GRAPH_API_VERSION": "v99.0",
            **extra,
        }
    )


def test_build_graph_api_uses_the_settings_and_counts_in_the_worker_registry():
    graph = FakeGraph(app_id=APP_ID, app_secret=APP_SECRET, version="v99.0")
    graph.add_code("code-metrics", TOKEN)
    graph.fail_next("exchange_code", status=500)
    registry = worker_metrics.REGISTRY
    name = "wapipe_graph_requests_total"
    before = {
        outcome: sample(registry, name, operation="exchange_code", outcome=outcome)
        for outcome in ("ok", "unavailable")
    }
    count_before = sample(
        registry, "wapipe_graph_request_duration_seconds_count", operation="exchange_code"
    )

    with build_graph_api(graph_settings(), transport=graph.transport()) as api:
        with pytest.raises(GraphUnavailable):
            api.exchange_code("code-metrics")
        api.exchange_code("code-metrics")

    assert graph.calls[-1].path == "/v99.0/oauth/access_token"
    assert graph.calls[-1].params["client_secret"] == APP_SECRET  # the first of the list
    for outcome in ("ok", "unavailable"):
        after = sample(registry, name, operation="exchange_code", outcome=outcome)
        assert after == before[outcome] + 1
    assert (
        sample(registry, "wapipe_graph_request_duration_seconds_count", operation="exchange_code")
        == count_before + 2
    )


@pytest.mark.anyio
async def test_build_async_code_exchange_counts_in_the_ingress_registry():
    graph = FakeGraph(app_id=APP_ID, app_secret=APP_SECRET, version="v99.0")
    graph.add_code("code-ingress", TOKEN)
    registry = ingress_metrics.REGISTRY
    labels = {"operation": "exchange_code", "outcome": "ok"}
    before = sample(registry, "wapipe_graph_requests_total", **labels)

    async with build_async_code_exchange(graph_settings(), transport=graph.transport()) as client:
        assert await client.exchange_code("code-ingress") == AccessToken(TOKEN)

    assert sample(registry, "wapipe_graph_requests_total", **labels) == before + 1


@pytest.mark.parametrize("missing", ["WAPIPE_META_APP_ID", "WAPIPE_APP_SECRET"])
def test_the_builders_name_a_missing_credential(missing: str):
    settings = graph_settings(**{missing: ""})

    with pytest.raises(SettingsError, match=missing):
        build_graph_api(settings)
    with pytest.raises(SettingsError, match=missing):
        build_async_code_exchange(settings)


# -- the async code exchange -----------------------------------------------------------------


def make_exchange(
    handler: Callable[[httpx.Request], Any],
    sent: list[httpx.Request],
    observed: list[Observation],
    **options: Any,
) -> AsyncHttpCodeExchange:
    async def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        response = handler(request)
        return await response if not isinstance(response, httpx.Response) else response

    return AsyncHttpCodeExchange(
        base_url=BASE_URL,
        version=VERSION,
        app_id=APP_ID,
        app_secret=APP_SECRET,
        transport=httpx.MockTransport(record),
        observe=lambda *observation: observed.append(observation),
        **options,
    )


@pytest.mark.anyio
async def test_the_async_exchange_sends_the_same_request_and_returns_the_token(
    graph: FakeGraph, sent: list[httpx.Request], observed: list[Observation]
):
    async with make_exchange(graph.handler, sent, observed) as exchange:
        token = await exchange.exchange_code(CODE)

    assert token == AccessToken(TOKEN)
    request = only_request(sent)
    assert request.method == "GET"
    assert request.url.copy_with(query=None) == httpx.URL(f"{BASE_URL}/v23.0/oauth/access_token")
    assert dict(request.url.params) == {
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "code": CODE,
    }
    assert outcomes(observed) == [("exchange_code", "ok")]


@pytest.mark.anyio
async def test_the_async_exchange_of_a_used_code_is_rejected(
    graph: FakeGraph, sent: list[httpx.Request], observed: list[Observation]
):
    async with make_exchange(graph.handler, sent, observed) as exchange:
        await exchange.exchange_code(CODE)
        with pytest.raises(GraphRejected) as caught:
            await exchange.exchange_code(CODE)

    assert caught.value.info.code == 100
    assert outcomes(observed) == [("exchange_code", "ok"), ("exchange_code", "rejected")]


@pytest.mark.anyio
async def test_the_async_exchange_has_an_overall_budget(
    sent: list[httpx.Request], observed: list[Observation]
):
    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(5)
        return httpx.Response(200, json={"access_token": TOKEN})

    async with make_exchange(slow, sent, observed, budget_seconds=0.05) as exchange:
        with anyio.fail_after(2):  # the test's own guard
            with pytest.raises(GraphUnavailable) as caught:
                await exchange.exchange_code(CODE)

    assert str(caught.value) == "graph exchange_code: TimeoutError"
    assert outcomes(observed) == [("exchange_code", "unavailable")]


@pytest.mark.anyio
async def test_the_async_exchange_translates_a_read_timeout(
    sent: list[httpx.Request], observed: list[Observation]
):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with make_exchange(handler, sent, observed) as exchange:
        with pytest.raises(GraphUnavailable, match="ReadTimeout"):
            await exchange.exchange_code(CODE)


@pytest.mark.anyio
async def test_the_async_exchange_is_rate_limited_like_the_sync_one(
    graph: FakeGraph, sent: list[httpx.Request], observed: list[Observation]
):
    graph.fail_next("exchange_code", error_code=4)

    async with make_exchange(graph.handler, sent, observed) as exchange:
        with pytest.raises(GraphRateLimited):
            await exchange.exchange_code(CODE)


# -- no secret in errors, logs or metrics ------------------------------------------------


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def metric_text(registry: CollectorRegistry) -> str:
    return "\n".join(
        f"{sample.name} {sample.labels}"
        for metric in registry.collect()
        for sample in metric.samples
    )


def echoing(status: int, code: int) -> Callable[[httpx.Request], httpx.Response]:
    """Meta at its worst: an error whose message quotes everything the request carried."""

    def handler(request: httpx.Request) -> httpx.Response:
        quoted = f"{request.url} {request.headers.get('authorization')} {request.content!r}"
        return httpx.Response(status, json={"error": {"message": quoted, "code": code}})

    return handler


def raising(failure: type[httpx.RequestError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure("timed out", request=request)

    return handler


def revoked(graph: FakeGraph) -> Callable[[httpx.Request], httpx.Response]:
    graph.revoke_token(TOKEN)
    return graph.handler


def code_used(graph: FakeGraph) -> Callable[[httpx.Request], httpx.Response]:
    graph.codes[CODE].used = True
    return graph.handler


def malformed(request: httpx.Request) -> httpx.Response:
    # No model accepts a list; pydantic's error would quote it (and so the URL) back.
    return httpx.Response(200, json=[str(request.url), request.headers.get("authorization")])


FAILURES: dict[str, Callable[[FakeGraph], Callable[[httpx.Request], httpx.Response]]] = {
    "rejected": lambda graph: echoing(400, 100),
    "rate_limited": lambda graph: echoing(400, 80007),
    "unavailable_5xx": lambda graph: echoing(503, 2),
    "read_timeout": lambda graph: raising(httpx.ReadTimeout),
    "connect_error": lambda graph: raising(httpx.ConnectError),
    "malformed": lambda graph: malformed,
    "invalid_token": revoked,
    "used_code": code_used,
}

CALLS: dict[str, Callable[[HttpGraphApi], object]] = {
    "exchange_code": lambda api: api.exchange_code(CODE),
    "debug_token": lambda api: api.debug_token(AccessToken(TOKEN)),
    "subscribe_app": lambda api: api.subscribe_app(WABA, AccessToken(TOKEN)),
    "list_phone_numbers": lambda api: api.list_phone_numbers(WABA, AccessToken(TOKEN)),
    "register_phone": lambda api: api.register_phone("2001", AccessToken(TOKEN), PIN),
    "request_sync": lambda api: api.request_sync("2001", AccessToken(TOKEN), "history"),
}

#: Every failure for every call, plus Meta's own refusals where they apply.
ERROR_PATHS = [
    *((operation, failure) for operation in CALLS for failure in list(FAILURES)[:6]),
    ("exchange_code", "used_code"),
    *(
        (operation, "invalid_token")
        for operation in ("subscribe_app", "list_phone_numbers", "register_phone", "request_sync")
    ),
]


@pytest.mark.parametrize(("operation", "failure"), ERROR_PATHS)
def test_no_secret_reaches_an_error_a_log_line_or_a_metric(
    graph: FakeGraph, caplog: pytest.LogCaptureFixture, operation: str, failure: str
):
    caplog.set_level(logging.DEBUG)
    handler = FAILURES[failure](graph)
    api = build_graph_api(
        graph_settings(WAPIPE_APP_SECRET=APP_SECRET, WAPIPE_GRAPH_BASE_URL=BASE_URL),
        transport=httpx.MockTransport(handler),
    )

    with api, pytest.raises((GraphRejected, GraphRateLimited, GraphUnavailable)) as caught:
        CALLS[operation](api)

    error = caught.value
    assert leaks(str(error)) == []
    assert leaks(repr(error)) == []
    assert leaks(repr(getattr(error, "info", None))) == []
    assert leaks("".join(traceback.format_exception(error))) == []  # causes included
    assert leaks(caplog.text) == []
    assert leaks(metric_text(worker_metrics.REGISTRY)) == []


def test_a_transport_errors_own_message_is_never_quoted(caplog: pytest.LogCaptureFixture):
    # Real httpx messages are socket-level ("timed out"), but some quote the URL: only the
    # exception's type reaches our error. (The cause stays attached, as rule 8 wants.)
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    api = build_graph_api(
        graph_settings(WAPIPE_APP_SECRET=APP_SECRET), transport=httpx.MockTransport(handler)
    )
    with api, pytest.raises(GraphUnavailable) as caught:
        api.exchange_code(CODE)

    assert str(caught.value) == "graph exchange_code: ConnectError"
    assert leaks(repr(caught.value)) == []
    assert leaks(caplog.text) == []


def test_httpx_logs_the_request_line_without_its_query_string(
    api: HttpGraphApi, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)

    token = api.exchange_code(CODE)
    api.debug_token(token)

    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert lines, "httpx logs each request at INFO"
    assert any("/v23.0/oauth/access_token" in line for line in lines)
    assert not any("?" in line for line in lines)
    assert leaks(caplog.text) == []


@pytest.mark.anyio
@pytest.mark.parametrize("failure", ["rejected", "read_timeout", "used_code", "malformed"])
async def test_no_secret_reaches_an_async_exchange_error_or_log(
    graph: FakeGraph, caplog: pytest.LogCaptureFixture, failure: str
):
    caplog.set_level(logging.DEBUG)
    handler = FAILURES[failure](graph)

    async with build_async_code_exchange(
        graph_settings(WAPIPE_APP_SECRET=APP_SECRET, WAPIPE_GRAPH_BASE_URL=BASE_URL),
        transport=httpx.MockTransport(handler),
    ) as exchange:
        with pytest.raises((GraphRejected, GraphRateLimited, GraphUnavailable)) as caught:
            await exchange.exchange_code(CODE)

    error = caught.value
    assert leaks(str(error)) == []
    assert leaks(repr(error)) == []
    assert leaks("".join(traceback.format_exception(error))) == []
    assert leaks(caplog.text) == []
    assert leaks(metric_text(ingress_metrics.REGISTRY)) == []
