"""The route table's shape (``ApiRoute``) and the Starlette routes built from it.

A route is declared once, as data: method, path, endpoint, parameter model, body model,
response model and security. Everything a request goes through is derived from that
declaration, in this order, so no endpoint repeats a check:

1. security: ``none`` → anyone (a key that is sent must still be valid); ``organization`` →
   any valid key, and when the path names an organization (``{org}``) the key must be an
   admin key or that organization's, else 404 (another organization's resources look
   exactly like missing ones); ``admin`` → admin keys (403 for an organization key).
   Checked before validation, so a bad query on another organization still answers 404.
2. path + query parameters → the parameter model; the body → the body model (422 + fields).
3. the endpoint, which returns an instance of the response model, sent as
   ``model_dump(mode="json")``.

The later OpenAPI document is generated from the same table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, compile_path

from adapters.api_keys import ApiPrincipal
from adapters.postgres import AsyncConn, translate_db_errors
from domain.errors import DependencyUnavailable
from ingress.api.auth import RequireAdmin, principal_of, unauthorized
from ingress.api.context import ApiContext
from ingress.api.errors import (
    ApiError,
    FieldError,
    Forbidden,
    InvalidRequest,
    NotFound,
    Unavailable,
    field_errors,
)
from runtime.metrics import ingress as metrics

Security = Literal["organization", "admin", "none"]
#: The path parameter that names the organization a route reads.
ORGANIZATION_PARAM = "org"
ADMIN_PREFIX = "/admin"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

ParamsT = TypeVar("ParamsT", bound=BaseModel)
BodyT = TypeVar("BodyT", bound=BaseModel | None)


class NoParams(BaseModel):
    """The parameters of a route that takes none: any query parameter is a 422."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class ApiCall(Generic[ParamsT, BodyT]):
    """What an endpoint receives: the caller, its validated input, and the API's context."""

    principal: ApiPrincipal | None  # None only on routes whose security is "none"
    params: ParamsT
    body: BodyT
    context: ApiContext

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConn]:
        """The API's async pool, for plain reads."""
        return self.context.pool


Endpoint = Callable[[ApiCall[Any, Any]], Awaitable[BaseModel]]


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One API route. ``path`` is relative to ``/api/v1`` in Starlette's syntax."""

    method: str
    path: str
    endpoint: Endpoint
    response: type[BaseModel]
    security: Security
    params: type[BaseModel] = NoParams
    body: type[BaseModel] | None = None
    status: int = 200

    @property
    def name(self) -> str:
        """The route's name (Starlette's, the metric label, the later operationId)."""
        return self.endpoint.__name__

    @property
    def path_names(self) -> frozenset[str]:
        return frozenset(compile_path(self.path)[2])


def check_table(table: Sequence[ApiRoute]) -> None:
    """Refuse a table that would answer differently from what it declares.

    Raises:
        ValueError: naming every route that breaks a rule.
    """
    problems: list[str] = []
    for count, what in (
        (Counter((r.method, r.path) for r in table), "declared twice"),
        (Counter(r.name for r in table), "a name used twice"),
    ):
        problems += [f"{key}: {what}" for key, n in count.items() if n > 1]
    for route in table:
        label = f"{route.method} {route.path}"
        if route.method not in METHODS:
            problems.append(f"{label}: unknown method")
        undeclared = route.path_names - set(route.params.model_fields)
        if undeclared:
            problems.append(f"{label}: path parameters {sorted(undeclared)} not in its model")
        if route.path.startswith(ADMIN_PREFIX + "/") != (route.security == "admin"):
            problems.append(f"{label}: security admin is for {ADMIN_PREFIX}/… paths, and only")
        if route.security == "none" and ORGANIZATION_PARAM in route.path_names:
            problems.append(f"{label}: an organization's resource needs a key")
    if problems:
        raise ValueError("bad API route table: " + "; ".join(problems))


def _authorize(route: ApiRoute, request: Request) -> ApiPrincipal | None:
    principal = principal_of(request.scope.get("user"))
    if route.security == "none":
        return principal
    if principal is None:
        raise unauthorized("missing")
    if route.security == "admin" and not principal.is_admin:
        raise Forbidden("an admin API key is required")
    organization = request.path_params.get(ORGANIZATION_PARAM)
    if organization is not None and not principal.may_access(organization):
        raise NotFound
    return principal


def _params(route: ApiRoute, request: Request) -> BaseModel:
    # A query parameter named like a path parameter (``?org=B``) is refused, never merged:
    # the path alone says what is read.
    clashes = [
        FieldError(
            loc=("query", name), msg="Extra inputs are not permitted", type="extra_forbidden"
        )
        for name in sorted(route.path_names & set(request.query_params))
    ]
    try:
        params = route.params.model_validate({**request.query_params, **request.path_params})
    except ValidationError as error:
        raise InvalidRequest(
            [*clashes, *field_errors(error, path_names=route.path_names)]
        ) from None
    if clashes:
        raise InvalidRequest(clashes)
    return params


async def _body(route: ApiRoute, request: Request) -> BaseModel | None:
    if route.body is None:
        return None
    try:
        return route.body.model_validate_json(await request.body())
    except ValidationError as error:
        raise InvalidRequest(field_errors(error, where="body")) from None


async def _answer(route: ApiRoute, context: ApiContext, request: Request) -> Response:
    try:
        principal = _authorize(route, request)
        call = ApiCall(principal, _params(route, request), await _body(route, request), context)
        with translate_db_errors():
            result = await route.endpoint(call)
    except ApiError as error:
        return error.response()
    except DependencyUnavailable:
        return Unavailable().response()
    if type(result) is not route.response:
        # The table is the contract the OpenAPI document is built from: send nothing else.
        raise TypeError(f"{route.name} answered {type(result).__name__}, not its response model")
    return JSONResponse(result.model_dump(mode="json"), status_code=route.status)


def _handler(route: ApiRoute, context: ApiContext) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        response = await _answer(route, context, request)
        metrics.API_RESPONSES.labels(route.name, str(response.status_code)).inc()
        return response

    handle.__name__ = route.name
    return handle


def _route(route: ApiRoute, context: ApiContext, path: str) -> Route:
    return Route(path, _handler(route, context), methods=[route.method], name=route.name)


def build_routes(table: Sequence[ApiRoute], context: ApiContext) -> list[BaseRoute]:
    """The Starlette routes of ``table``; the admin ones under a ``RequireAdmin`` mount.

    Raises:
        ValueError: the table breaks a rule of ``check_table``.
    """
    check_table(table)
    routes: list[BaseRoute] = [
        _route(route, context, route.path) for route in table if route.security != "admin"
    ]
    admin: list[BaseRoute] = [
        _route(route, context, route.path.removeprefix(ADMIN_PREFIX))
        for route in table
        if route.security == "admin"
    ]
    # Mounted even while empty: the namespace answers 401/403 before "does it exist" (404).
    routes.append(Mount(ADMIN_PREFIX, routes=admin, middleware=[Middleware(RequireAdmin)]))
    return routes
