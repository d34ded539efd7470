"""The API's error answers: one exception per answer, each rendered from ``ErrorBody``.

    ApiError              500 internal_error; the base of every answer other than success
    ├── Unauthorized       401 no key, or a key that is malformed, unknown or revoked
    ├── Forbidden          403 a valid key without the scope (an organization key on /admin)
    ├── NotFound           404 no such resource, or another organization's (the same answer)
    ├── MethodNotAllowed   405
    ├── Conflict           409 the resource's state refuses the request (``detail`` says why)
    ├── Gone               410 ``expired``: the onboarding's tracking code is past its lifetime
    ├── InvalidRequest     422 parameters or body failed validation; ``detail`` lists fields
    ├── TooManyRequests    429 ``rate_limited`` (admin replays), with ``Retry-After``
    ├── CodeExchangeFailed 502 ``code_exchange_failed``: Meta refused the code; Meta's message
    ├── Unavailable        503 Postgres did not answer; retry later
    ├── GraphUnavailable   503 ``graph_unavailable``: Graph timed out, failed or throttled us
    └── NotConfigured      503 ``not_configured``: the settings this route needs are missing

The detail never echoes a presented key or any other secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import JSONResponse


class FieldError(BaseModel):
    model_config = ConfigDict(frozen=True)

    loc: tuple[str | int, ...]
    msg: str
    type: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    error: str
    detail: str | list[FieldError] | None = None


def field_errors(
    error: ValidationError, *, path_names: frozenset[str] = frozenset(), where: str | None = None
) -> list[FieldError]:
    """The field errors of ``error``, each ``loc`` led by where the field came from.

    ``where`` names one location for every field (``body``); without it a field is ``path``
    when its name is one of ``path_names``, else ``query``. The input is never echoed.
    """
    fields = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(item["loc"])
        origin = where or ("path" if loc and loc[0] in path_names else "query")
        fields.append(FieldError(loc=(origin, *loc), msg=item["msg"], type=item["type"]))
    return fields


class ApiError(Exception):
    status: int = 500
    error: str = "internal_error"

    def __init__(
        self,
        detail: str | Sequence[FieldError] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(self.error)
        self.detail = detail
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        detail = (
            self.detail
            if self.detail is None or isinstance(self.detail, str)
            else list(self.detail)
        )
        body = ErrorBody(error=self.error, detail=detail)
        return JSONResponse(
            body.model_dump(mode="json", exclude_none=True),
            status_code=self.status,
            headers=self.headers,
        )


class Unauthorized(ApiError):
    status = 401
    error = "unauthorized"

    #: What each reason (a ``wapipe_api_auth_failures_total`` label) tells the client.
    DETAILS: Mapping[str, str] = {
        "missing": "an API key is required: Authorization: Bearer <key>",
        "scheme": "expected Authorization: Bearer <key>",
        "malformed": "the API key is not valid",
        "rejected": "the API key is not valid",
    }

    def __init__(self, reason: str) -> None:
        # RFC 6750 §3: no error code when no credentials came, invalid_token for a bad one.
        challenge = "Bearer" if reason == "missing" else 'Bearer error="invalid_token"'
        super().__init__(self.DETAILS[reason], headers={"WWW-Authenticate": challenge})
        self.reason = reason


class Forbidden(ApiError):
    status = 403
    error = "forbidden"


class NotFound(ApiError):
    status = 404
    error = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    error = "method_not_allowed"


class InvalidRequest(ApiError):
    status = 422
    error = "invalid_request"

    def __init__(self, fields: Sequence[FieldError]) -> None:
        super().__init__(fields)


class Unavailable(ApiError):
    status = 503
    error = "unavailable"

    def __init__(self) -> None:
        super().__init__("storage unavailable", headers={"Retry-After": "5"})


class Conflict(ApiError):
    status = 409
    error = "conflict"


class Gone(ApiError):
    status = 410
    error = "expired"


class TooManyRequests(ApiError):
    status = 429
    error = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class CodeExchangeFailed(ApiError):
    """Meta refused the code (used, expired, not this app's): ``detail`` is Meta's message."""

    status = 502
    error = "code_exchange_failed"


class GraphUnavailable(ApiError):
    status = 503
    error = "graph_unavailable"

    def __init__(self, detail: str, *, retry_after: int = 2) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class NotConfigured(ApiError):
    status = 503
    error = "not_configured"
