"""The ``/api/v1`` sub-application, mounted by the ingress (``ingress.app``).

A sub-app with its own middleware: the authentication middleware sees only API requests, so
the webhook routes never depend on an API key lookup (or its pool).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.authentication import AuthenticationBackend
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import Response

from ingress.api.auth import ApiKeyBackend, answer_authentication_error
from ingress.api.context import ApiContext
from ingress.api.errors import ApiError, MethodNotAllowed, NotFound
from ingress.api.routes import ROUTES
from ingress.api.routing import ApiRoute, build_routes

API_PREFIX = "/api/v1"


async def _not_found(request: Request, exc: Exception) -> Response:
    # The same body as another organization's resource: a caller cannot tell them apart.
    return NotFound().response()


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    headers = exc.headers if isinstance(exc, HTTPException) and exc.headers else None
    return MethodNotAllowed(headers=headers).response()


async def _internal_error(request: Request, exc: Exception) -> Response:
    return ApiError().response()


def build_api(
    table: Sequence[ApiRoute], context: ApiContext, backend: AuthenticationBackend
) -> Starlette:
    """The API of ``table``; tests pass their own table and backend."""
    return Starlette(
        routes=build_routes(table, context),
        middleware=[
            Middleware(
                AuthenticationMiddleware, backend=backend, on_error=answer_authentication_error
            )
        ],
        exception_handlers={
            404: _not_found,
            405: _method_not_allowed,
            500: _internal_error,
        },
    )


def create_api(context: ApiContext) -> Starlette:
    """The production API over ``context`` (built from ``IngressDeps`` by ``ingress.app``)."""
    return build_api(ROUTES, context, ApiKeyBackend(context.pool))
