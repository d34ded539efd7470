"""Who is calling: ``Authorization: Bearer <api key>`` → an ``ApiPrincipal`` (SPEC §8, §16).

``ApiKeyBackend`` runs in Starlette's ``AuthenticationMiddleware`` for every API request. No
header at all leaves the request anonymous, and the route's declared security answers 401
(routes with security ``none`` stay open); a header that is not a valid key answers 401
at once, whatever the route. ``RequireAdmin`` guards the whole ``/admin`` namespace.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.api_keys import ApiPrincipal, authenticate, parse_api_key
from adapters.postgres import AsyncConn, translate_db_errors
from domain.errors import DependencyUnavailable
from ingress.api.errors import ApiError, Forbidden, Unauthorized, Unavailable
from runtime.metrics import ingress as metrics

SCHEME = "bearer"


class ApiUser(BaseUser):
    """The Starlette user of a request that presented a valid key."""

    def __init__(self, principal: ApiPrincipal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.principal.name or self.principal.key_id

    @property
    def identity(self) -> str:
        return self.principal.key_id


class AuthenticationFailed(AuthenticationError):
    """Carries the answer the middleware sends instead of calling the app."""

    def __init__(self, answer: ApiError) -> None:
        super().__init__(answer.error)
        self.answer = answer


def principal_of(user: object) -> ApiPrincipal | None:
    """The principal of ``scope["user"]``; None when anonymous (or unauthenticated at all)."""
    return user.principal if isinstance(user, ApiUser) else None


def acting_for(principal: ApiPrincipal | None) -> str | None:
    """The organization a key acts for; None for an admin key (every organization).

    Raises:
        RuntimeError: no principal (a route with security ``none`` must not ask).
    """
    if principal is None:
        raise RuntimeError("an anonymous call acts for nobody")
    return None if principal.is_admin else principal.organization_id


def actor_of(principal: ApiPrincipal | None) -> str:
    """Who an audit row names for this key: its id and, when it has one, its name."""
    if principal is None:
        raise RuntimeError("an anonymous call is nobody's action")
    name = f" ({principal.name})" if principal.name else ""
    return f"api_key:{principal.key_id}{name}"


def unauthorized(reason: str) -> Unauthorized:
    """A 401, counted by reason where it is decided."""
    metrics.API_AUTH_FAILURES.labels(reason).inc()
    return Unauthorized(reason)


class ApiKeyBackend(AuthenticationBackend):
    def __init__(self, pool: AsyncConnectionPool[AsyncConn]) -> None:
        self.pool = pool

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != SCHEME:
            raise AuthenticationFailed(unauthorized("scheme"))
        presented = presented.strip()
        if parse_api_key(presented) is None:
            # Refused before any query: garbage never costs a database round trip.
            raise AuthenticationFailed(unauthorized("malformed"))
        try:
            with translate_db_errors():
                async with self.pool.connection() as db:
                    principal = await authenticate(db, presented)
        except DependencyUnavailable:
            raise AuthenticationFailed(Unavailable()) from None
        if principal is None:
            raise AuthenticationFailed(unauthorized("rejected"))
        return AuthCredentials(["authenticated", principal.scope.value]), ApiUser(principal)


def answer_authentication_error(conn: HTTPConnection, error: AuthenticationError) -> Response:
    """``on_error`` of the middleware: the carried answer (a bare error fails closed: 401)."""
    if isinstance(error, AuthenticationFailed):
        return error.answer.response()
    return unauthorized("rejected").response()


class RequireAdmin:
    """Pure ASGI guard of ``/api/v1/admin``: 401 without a key, 403 for an organization key.

    It answers before routing, so the whole namespace is closed to organization keys whether
    or not a route exists at the path, and a route that forgot its security cannot leak.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            principal = principal_of(scope.get("user"))
            if principal is None:
                await unauthorized("missing").response()(scope, receive, send)
                return
            if not principal.is_admin:
                await Forbidden("an admin API key is required").response()(scope, receive, send)
                return
        await self.app(scope, receive, send)
