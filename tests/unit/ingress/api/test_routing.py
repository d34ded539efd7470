"""Routes built from the table: guards, validation and answers, with a fake key backend.

In-process (httpx's ASGI transport, no sockets); the pool is never opened, since these
endpoints do not touch it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection

from adapters.api_keys import ApiPrincipal, KeyScope
from adapters.postgres import AsyncConn, create_async_pool
from domain.errors import DependencyUnavailable
from ingress.api.app import build_api
from ingress.api.auth import ApiUser, AuthenticationFailed, unauthorized
from ingress.api.context import ApiContext
from ingress.api.models import OrganizationParams
from ingress.api.routing import ApiCall, ApiRoute, NoParams

ORG_KEY = "org-key"
ADMIN_KEY = "admin-key"
PRINCIPALS = {
    ORG_KEY: ApiPrincipal("ak_000000000001", KeyScope.ORGANIZATION, "acme", "backend"),
    ADMIN_KEY: ApiPrincipal("ak_000000000002", KeyScope.ADMIN, None, "ops"),
}


class FakeBackend(AuthenticationBackend):
    """Keys from a dict; the same contract as ``ApiKeyBackend`` without the database."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        principal = PRINCIPALS.get(header.removeprefix("Bearer "))
        if principal is None:
            raise AuthenticationFailed(unauthorized("rejected"))
        return AuthCredentials(["authenticated"]), ApiUser(principal)


class BrokenBackend(AuthenticationBackend):
    """A backend that fails with Starlette's bare error, carrying no answer of ours."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        raise AuthenticationError("internal detail: key row 42 has no hash")


class Echo(BaseModel):
    model_config = ConfigDict(frozen=True)

    key_id: str | None
    org: str | None = None
    count: int | None = None
    at: datetime | None = None


class Widget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    count: int


async def whoami(call: ApiCall[NoParams, None]) -> Echo:
    return Echo(key_id=call.principal.key_id if call.principal else None)


async def show_org(call: ApiCall[OrganizationParams, None]) -> Echo:
    return Echo(
        key_id=call.principal.key_id if call.principal else None,
        org=call.params.org,
        at=datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-3))),
    )


async def add_widget(call: ApiCall[OrganizationParams, Widget]) -> Echo:
    return Echo(key_id=None, org=call.params.org, count=call.body.count)


async def list_orphans(call: ApiCall[NoParams, None]) -> Echo:
    return Echo(key_id=call.principal.key_id if call.principal else None)


async def wrong_answer(call: ApiCall[NoParams, None]) -> Echo:
    return Widget(name="not the declared model", count=1)  # type: ignore[return-value]


async def storage_down(call: ApiCall[NoParams, None]) -> Echo:
    raise DependencyUnavailable("postgres: PoolTimeout")


TABLE = (
    ApiRoute("GET", "/whoami", whoami, Echo, "none"),
    ApiRoute("GET", "/organizations/{org}", show_org, Echo, "organization", OrganizationParams),
    ApiRoute(
        "POST",
        "/organizations/{org}/widgets",
        add_widget,
        Echo,
        "organization",
        OrganizationParams,
        body=Widget,
        status=201,
    ),
    ApiRoute("GET", "/admin/orphans", list_orphans, Echo, "admin"),
    ApiRoute("GET", "/wrong", wrong_answer, Echo, "none"),
    ApiRoute("GET", "/down", storage_down, Echo, "none"),
)


@pytest.fixture(scope="module")
def pool() -> AsyncConnectionPool[AsyncConn]:
    return create_async_pool("postgresql://never-opened.invalid/x", name="unit")


@pytest.fixture
async def client(pool: AsyncConnectionPool[AsyncConn]) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(FakeBackend(), pool) as api:
        yield api


pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(
    backend: AuthenticationBackend,
    pool: AsyncConnectionPool[AsyncConn],
    *,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[httpx.AsyncClient]:
    app = httpx.ASGITransport(
        app=build_api(TABLE, ApiContext(pool=pool), backend),
        raise_app_exceptions=raise_app_exceptions,
    )
    async with httpx.AsyncClient(transport=app, base_url="http://testserver") as api:
        yield api


def as_(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_route_open_to_anyone_answers_without_a_key(client: httpx.AsyncClient):
    response = await client.get("/whoami")

    assert (response.status_code, response.json()) == (
        200,
        {"key_id": None, "org": None, "count": None, "at": None},
    )


async def test_a_route_open_to_anyone_still_refuses_a_bad_key(client: httpx.AsyncClient):
    response = await client.get("/whoami", headers=as_("forged"))

    assert response.status_code == 401


async def test_the_endpoint_receives_the_principal_and_validated_parameters(
    client: httpx.AsyncClient,
):
    response = await client.get("/organizations/acme", headers=as_(ORG_KEY))

    assert response.status_code == 200
    assert response.json()["key_id"] == "ak_000000000001"
    assert response.json()["org"] == "acme"


async def test_the_answer_is_the_response_model_dumped_as_json(client: httpx.AsyncClient):
    response = await client.get("/organizations/acme", headers=as_(ORG_KEY))

    assert response.json()["at"] == "2026-03-01T09:30:00-03:00"


async def test_an_organization_route_without_a_key_is_unauthorized(client: httpx.AsyncClient):
    response = await client.get("/organizations/acme")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_an_organization_key_on_another_organization_finds_nothing(client: httpx.AsyncClient):
    response = await client.get("/organizations/globex", headers=as_(ORG_KEY))

    assert (response.status_code, response.json()) == (404, {"error": "not_found"})


async def test_a_body_is_validated_by_its_model(client: httpx.AsyncClient):
    response = await client.post(
        "/organizations/acme/widgets", headers=as_(ORG_KEY), json={"name": "", "colour": "red"}
    )

    assert response.status_code == 422
    assert sorted(tuple(f["loc"]) for f in response.json()["detail"]) == [
        ("body", "colour"),
        ("body", "count"),
        ("body", "name"),
    ]


async def test_a_body_that_is_not_json_is_an_invalid_request(client: httpx.AsyncClient):
    response = await client.post(
        "/organizations/acme/widgets", headers=as_(ORG_KEY), content=b"{not json"
    )

    assert response.status_code == 422
    assert [f["loc"] for f in response.json()["detail"]] == [["body"]]


async def test_a_valid_body_reaches_the_endpoint_with_the_declared_status(
    client: httpx.AsyncClient,
):
    response = await client.post(
        "/organizations/acme/widgets", headers=as_(ORG_KEY), json={"name": "w", "count": 3}
    )

    assert response.status_code == 201
    assert response.json()["count"] == 3


async def test_another_organization_is_not_found_before_its_body_is_judged(
    client: httpx.AsyncClient,
):
    response = await client.post("/organizations/globex/widgets", headers=as_(ORG_KEY), json={})

    assert response.status_code == 404


async def test_a_declared_admin_route_is_forbidden_to_an_organization_key(
    client: httpx.AsyncClient,
):
    response = await client.get("/admin/orphans", headers=as_(ORG_KEY))

    assert (response.status_code, response.json()["error"]) == (403, "forbidden")


async def test_a_declared_admin_route_answers_an_admin_key(client: httpx.AsyncClient):
    response = await client.get("/admin/orphans", headers=as_(ADMIN_KEY))

    assert response.status_code == 200
    assert response.json()["key_id"] == "ak_000000000002"


async def test_an_endpoint_that_answers_another_model_is_a_server_error(client: httpx.AsyncClient):
    with pytest.raises(TypeError, match="not its response model"):
        await client.get("/wrong")


async def test_a_server_error_still_answers_json(pool: AsyncConnectionPool[AsyncConn]):
    async with serving(FakeBackend(), pool, raise_app_exceptions=False) as api:
        response = await api.get("/wrong")

    assert (response.status_code, response.json()) == (500, {"error": "internal_error"})


async def test_a_backend_failure_without_our_answer_fails_closed_and_says_nothing_of_it(
    pool: AsyncConnectionPool[AsyncConn],
):
    async with serving(BrokenBackend(), pool) as api:
        response = await api.get("/whoami", headers=as_(ORG_KEY))

    assert response.status_code == 401
    assert "row 42" not in response.text


async def test_storage_that_does_not_answer_is_a_503(client: httpx.AsyncClient):
    response = await client.get("/down")

    assert response.status_code == 503
    assert response.json() == {"error": "unavailable", "detail": "storage unavailable"}
    assert response.headers["retry-after"] == "5"


async def test_a_path_with_no_route_is_a_json_404(client: httpx.AsyncClient):
    response = await client.get("/nothing/here", headers=as_(ADMIN_KEY))

    assert (response.status_code, response.json()) == (404, {"error": "not_found"})


async def test_an_error_answer_is_json_even_without_a_route(client: httpx.AsyncClient):
    response = await client.delete("/whoami")

    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed"}
    assert "GET" in response.headers["allow"]
