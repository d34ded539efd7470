"""The real Graph clients against the fake Graph served over HTTP on 127.0.0.1.

This is how end-to-end tests and real worker processes reach the fake: through
``WAPIPE_GRAPH_BASE_URL``. Real sockets, real httpx timeouts, real connection failures.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import httpx
import pytest

from adapters.graph_api import AsyncHttpCodeExchange, HttpGraphApi
from bench.procs import free_port
from domain.errors import GraphRateLimited, GraphRejected, GraphUnavailable
from domain.graph import AccessToken
from runtime.bootstrap import build_async_code_exchange, build_graph_api
from runtime.settings import Settings
from tests.fake_graph import FakeGraph, FakeGraphServer, Registration, Subscription

APP_ID = "5151515151"
APP_SECRET = "appsecret-LEAK-over-http"
TOKEN = "EAAG-token-LEAK-over-http"
CODE = "oauthcode-LEAK-over-http"
PIN = "135790"
SECRETS = (APP_SECRET, TOKEN, CODE, PIN)
WABA = "3101"


@pytest.fixture
def graph() -> FakeGraph:
    fake = FakeGraph(app_id=APP_ID, app_secret=APP_SECRET)
    fake.add_token(TOKEN, waba_ids={WABA}, expires_at=0)
    fake.add_code(CODE, TOKEN)
    for suffix in range(1, 6):
        fake.add_phone(WABA, f"410{suffix}", is_on_biz_app=suffix == 5)
    return fake


@pytest.fixture
def server(graph: FakeGraph) -> Iterator[FakeGraphServer]:
    with graph.serve() as served:
        yield served


@pytest.fixture
def settings(server: FakeGraphServer) -> Settings:
    return Settings.from_environ(
        {
            "WAPIPE_META_APP_ID": APP_ID,
            "WAPIPE_APP_SECRET": APP_SECRET,
            "WAPIPE_GRAPH_BASE_URL": server.url,
        }
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def quick_client(base_url: str, **options: float) -> HttpGraphApi:
    return HttpGraphApi(
        base_url=base_url,
        version="v23.0",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        timeout=httpx.Timeout(options.get("read", 0.3), connect=0.5),
    )


def test_a_whole_onboarding_runs_over_http(graph: FakeGraph, settings: Settings):
    with build_graph_api(settings, observe=lambda *_: None) as api:
        token = api.exchange_code(CODE)
        info = api.debug_token(token)
        api.subscribe_app(WABA, token)
        numbers = api.list_phone_numbers(WABA, token)
        api.register_phone("4101", token, PIN)
        request_id = api.request_sync("4105", token, "history")

    assert token == AccessToken(TOKEN)
    assert info.is_valid
    assert info.expires_at is None
    assert info.waba_ids == {WABA}
    assert graph.subscriptions == [Subscription(WABA, TOKEN)]
    assert [number.phone_number_id for number in numbers] == [f"410{n}" for n in range(1, 6)]
    assert [number.coexistence for number in numbers] == [False] * 4 + [True]
    assert graph.registrations == [Registration("4101", PIN, TOKEN)]
    assert request_id == graph.sync_requests[0].request_id
    # Pages were fetched from the fake's own base URL, by cursor.
    assert [call.params.get("after") for call in graph.calls_of("list_phone_numbers")] == [
        None,
        "2",
        "4",
    ]
    assert {call.path.split("/")[1] for call in graph.calls} == {"v23.0"}


@pytest.mark.anyio
async def test_the_async_exchange_runs_over_http(graph: FakeGraph, settings: Settings):
    async with build_async_code_exchange(settings, observe=lambda *_: None) as exchange:
        token = await exchange.exchange_code(CODE)
        with pytest.raises(GraphRejected) as caught:
            await exchange.exchange_code(CODE)

    assert token == AccessToken(TOKEN)
    assert (caught.value.info.code, caught.value.info.subcode) == (100, 36009)


def test_meta_errors_arrive_over_http_as_the_right_class(graph: FakeGraph, settings: Settings):
    graph.fail_next("subscribe_app", status=503)
    graph.fail_next("subscribe_app", error_code=80007)
    graph.fail_next("subscribe_app", error_code=100)
    graph.fail_next("subscribe_app", raw_body="<html>bad gateway</html>", status=502)

    with build_graph_api(settings, observe=lambda *_: None) as api:
        with pytest.raises(GraphUnavailable, match="HTTP 503"):
            api.subscribe_app(WABA, AccessToken(TOKEN))
        with pytest.raises(GraphRateLimited):
            api.subscribe_app(WABA, AccessToken(TOKEN))
        with pytest.raises(GraphRejected):
            api.subscribe_app(WABA, AccessToken(TOKEN))
        with pytest.raises(GraphUnavailable, match="HTTP 502"):
            api.subscribe_app(WABA, AccessToken(TOKEN))
        api.subscribe_app(WABA, AccessToken(TOKEN))

    assert [call.status for call in graph.calls_of("subscribe_app")] == [503, 400, 400, 502, 200]


def test_an_unknown_token_is_refused_with_190_and_401(graph: FakeGraph, settings: Settings):
    api = build_graph_api(settings, observe=lambda *_: None)
    with api, pytest.raises(GraphRejected) as caught:
        api.list_phone_numbers(WABA, AccessToken("EAAG-unknown"))

    assert caught.value.info.code == 190
    assert graph.calls[-1].status == 401


def test_a_slow_graph_is_a_read_timeout(graph: FakeGraph, server: FakeGraphServer):
    graph.fail_next("debug_token", stall_s=0.6)

    with quick_client(server.url, read=0.2) as api, pytest.raises(GraphUnavailable) as caught:
        api.debug_token(AccessToken(TOKEN))

    assert str(caught.value) == "graph debug_token: ReadTimeout"
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_a_slow_answer_within_the_timeout_is_fine(graph: FakeGraph, server: FakeGraphServer):
    graph.fail_next("debug_token", stall_s=0.05)

    with quick_client(server.url, read=2.0) as api:
        assert api.debug_token(AccessToken(TOKEN)).is_valid


@pytest.mark.anyio
async def test_the_async_exchange_gives_up_within_its_budget(
    graph: FakeGraph, server: FakeGraphServer
):
    graph.fail_next("exchange_code", stall_s=0.6)
    exchange = AsyncHttpCodeExchange(
        base_url=server.url,
        version="v23.0",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        budget_seconds=0.2,
    )

    async with exchange:
        with pytest.raises(GraphUnavailable, match="TimeoutError"):
            await exchange.exchange_code(CODE)


def test_a_graph_that_does_not_answer_is_unavailable_and_nothing_leaks(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    with quick_client(closed) as api:
        with pytest.raises(GraphUnavailable) as refused_exchange:
            api.exchange_code(CODE)
        with pytest.raises(GraphUnavailable) as refused_debug:
            api.debug_token(AccessToken(TOKEN))

    for caught in (refused_exchange, refused_debug):
        assert isinstance(caught.value.__cause__, httpx.ConnectError)
        # httpx's real message for a refused connection, with the whole chain formatted.
        assert leaks("".join(traceback.format_exception(caught.value))) == []
    assert leaks(caplog.text) == []


def test_the_server_stops_and_frees_its_port(graph: FakeGraph):
    with graph.serve() as served:
        url = served.url
        with quick_client(url) as api:
            api.subscribe_app(WABA, AccessToken(TOKEN))

    with quick_client(url) as api, pytest.raises(GraphUnavailable):
        api.subscribe_app(WABA, AccessToken(TOKEN))
