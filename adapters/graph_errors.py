"""Graph answers and failures, translated into the error tree of ``domain.errors`` (rule 8).

    2xx with the expected body         → the parsed model
    2xx with any other body            → GraphUnavailable (Meta misbehaving; may pass)
    Meta error with a throttling code  → GraphRateLimited   (whatever the HTTP status)
    429 without a Graph error body     → GraphRateLimited   (a proxy's throttling)
    5xx, 1xx, 3xx                      → GraphUnavailable
    other 4xx                          → GraphRejected, with Meta's code and message
    httpx.RequestError, TimeoutError   → GraphUnavailable

No message built here quotes a URL, a request, a token, a code or the app secret. httpx
exceptions carry the request, and the code exchange has the app secret and the code in its
query string, so only the exception's type name is used. Meta's own message is scrubbed of
the call's secrets before it is kept, in case Meta ever echoes one.
"""

from __future__ import annotations

from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from domain.errors import GraphErrorInfo, GraphRateLimited, GraphRejected, GraphUnavailable
from schemas.graph import GraphErrorBody

#: Meta's throttling codes: retry later, never dead-letter (FACTS §8.2, SPEC §6).
RATE_LIMIT_CODES = frozenset(
    {
        4,  # application request limit (also: a coexistence sync asked for twice)
        17,  # Graph throttling: user request limit reached
        32,  # Graph throttling: page request limit reached
        613,  # Graph throttling: calls within one hour exceeded
        80007,  # WABA rate limit
        130429,  # Cloud API throughput reached
        131048,  # spam rate limit
        131056,  # pair rate limit
        133016,  # register/deregister attempts exceeded
    }
)

#: Meta's messages are short; a longer one is cut so a dead letter stays readable.
MAX_MESSAGE_CHARS = 300
REDACTED = "[redacted]"

_Model = TypeVar("_Model", bound=BaseModel)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def read_answer(
    operation: str,
    response: httpx.Response,
    model: type[_Model],
    *,
    secrets: tuple[str, ...] = (),
) -> _Model:
    """The body of a 2xx ``response`` as ``model``; any other answer as a Graph error.

    ``secrets`` are the values the call sent (token, app secret, code): removed from any
    message Meta sends back.

    Raises:
        GraphRateLimited: a throttling code (``RATE_LIMIT_CODES``) or a bare 429.
        GraphRejected: any other 4xx; code ``None`` when the body is not a Graph error.
        GraphUnavailable: 5xx, an unexpected status, or a 2xx body that is not ``model``.
    """
    status = response.status_code
    if 200 <= status < 300:
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            # ``from None``: pydantic's message quotes the body, which may hold a token.
            raise GraphUnavailable(
                f"graph {operation}: malformed HTTP {status} answer (not a {model.__name__})"
            ) from None
    info = _error_info(response, secrets)
    if info is not None and info.code in RATE_LIMIT_CODES:
        raise GraphRateLimited(info)
    if status == 429 and info is None:
        raise GraphRateLimited(GraphErrorInfo(None, None, "HTTP 429 without a Graph error body"))
    if 400 <= status < 500:
        raise GraphRejected(
            operation,
            info or GraphErrorInfo(None, None, f"HTTP {status} without a Graph error body"),
        )
    detail = f" (code {info.code}): {info.message}" if info is not None else ""
    raise GraphUnavailable(f"graph {operation}: HTTP {status}{detail}")


def transport_failure(operation: str, error: Exception) -> GraphUnavailable:
    """The ``GraphUnavailable`` for a timeout or transport failure (raise it ``from error``).

    Only the type name is kept: ``str(error)`` may quote the URL (secrets in its query).
    """
    return GraphUnavailable(f"graph {operation}: {type(error).__name__}")


def _error_info(response: httpx.Response, secrets: tuple[str, ...]) -> GraphErrorInfo | None:
    try:
        error = GraphErrorBody.model_validate_json(response.content).error
    except ValidationError:
        return None
    message = error.message
    details = error.error_data.details if error.error_data is not None else None
    if details and details not in message:
        message = f"{message} ({details})" if message else details
    return GraphErrorInfo(
        code=error.code,
        subcode=error.error_subcode,
        message=scrub(message, secrets)[:MAX_MESSAGE_CHARS],
        fbtrace_id=error.fbtrace_id,
    )
