"""The webhook routes: GET handshake and POST receive (verify → log → enqueue → 200)."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from adapters.webhook_log import RawWebhook
from domain.errors import DependencyUnavailable
from ingress.client_ip import as_address, client_ip
from ingress.ingest import IngestOverloaded
from ingress.signature import SignatureCheck, check_signature
from ingress.state import IngressState
from ingress.subscribe import verify_subscription
from runtime.metrics import ingress as metrics
from runtime.settings import Settings

SIGNATURE_HEADER = "x-hub-signature-256"
#: Request headers stored with each webhook (SPEC §5.3), for an investigation; none is secret
#: (the signature is an HMAC of the body, not the app secret).
KEPT_HEADERS = ("content-type", "user-agent", SIGNATURE_HEADER, "x-forwarded-for")
#: Seconds Meta is asked to wait before retrying a 503: storage is down or the ingest is full.
RETRY_AFTER_UNAVAILABLE_S = 5


class BodyTooLarge(Exception):
    """The body exceeds ``MAX_BODY_BYTES``, whatever Content-Length claimed."""


def _state(request: Request) -> IngressState:
    state: IngressState = request.app.state.ingress
    return state


async def verify_webhook_subscription(request: Request) -> Response:
    token = _state(request).settings.verify_token
    challenge = verify_subscription(request.query_params, str(token) if token else None)
    if challenge is None:
        return PlainTextResponse("forbidden", status_code=403)
    return PlainTextResponse(challenge)


async def _read_body(request: Request, limit: int, deadline: float) -> bytes:
    """The whole body, by ``deadline`` (event-loop time).

    Raises:
        BodyTooLarge: over ``limit`` bytes, declared or streamed.
        TimeoutError: not complete by ``deadline``: a slow client holds a request slot (and
            under ``limit_concurrency`` a share of the process) no longer than that.
    """
    declared = request.headers.get("content-length")
    # ASCII digits only: str.isdigit() also accepts "²" (a Latin-1 header byte), which int()
    # refuses. Anything else is ignored here and the streamed bytes are counted instead.
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    # One deadline for the whole body, not per chunk: a byte every few seconds would pass any
    # per-read timeout for ever.
    async with asyncio.timeout_at(deadline):
        # Counted while streaming: chunked bodies have no Content-Length and a declared one
        # may lie.
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge
    return bytes(body)


async def _body_or_refusal(
    request: Request, settings: Settings, deadline: float
) -> bytes | Response:
    """The body, or the answer to a request whose body cannot be taken."""
    try:
        return await _read_body(request, settings.max_body_bytes, deadline)
    except BodyTooLarge:
        return _reject("too_large", 413, f"body exceeds {settings.max_body_bytes} bytes")
    except ClientDisconnect:
        return Response(status_code=400)
    except TimeoutError:
        metrics.BODY_TIMEOUTS.inc()
        # Closed: the rest of the body may still be on its way, and the connection cannot
        # carry another request after it.
        return JSONResponse(
            {
                "error": "body_timeout",
                "detail": f"body not complete within {settings.body_timeout_seconds:g} s",
            },
            status_code=408,
            headers={"Connection": "close"},
        )


def _reject(
    outcome: str, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    metrics.WEBHOOKS_RECEIVED.labels(outcome).inc()
    return JSONResponse({"error": outcome, "detail": detail}, status_code=status, headers=headers)


async def receive_webhook(request: Request) -> Response:
    """Meta retries anything but 200 for days, so 200 is sent only once the body is committed."""
    started = time.perf_counter()
    try:
        return await _receive(request)
    finally:
        metrics.INGEST_DURATION.observe(time.perf_counter() - started)


async def _receive(request: Request) -> Response:
    state = _state(request)
    settings = state.settings
    # Counted from the request's start: a slow rate-limit check does not extend it.
    body_deadline = asyncio.get_running_loop().time() + settings.body_timeout_seconds
    ip = client_ip(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        settings.trusted_proxies,
    )
    if state.limiter is not None:
        decision = await state.limiter.check(ip)
        if decision.failed_open:
            metrics.RATE_LIMIT_FAIL_OPEN.inc()
            metrics.DEPENDENCY_UP.labels("redis").set(0)
        elif state.limiter.enabled:
            # Redis answered: clear a 0 left by an earlier failure (the alert watches it).
            metrics.DEPENDENCY_UP.labels("redis").set(1)
        if not decision.allowed:
            return _reject(
                "rate_limited", 429, "too many requests", {"Retry-After": str(decision.retry_after)}
            )
    body = await _body_or_refusal(request, settings, body_deadline)
    if isinstance(body, Response):
        return body

    check = check_signature(state.app_secrets, body, request.headers.get(SIGNATURE_HEADER))
    if check is not SignatureCheck.VALID:
        if state.limiter is not None and not await state.limiter.record_bad_signature(ip):
            metrics.RATE_LIMIT_FAIL_OPEN.inc()
            metrics.DEPENDENCY_UP.labels("redis").set(0)
        return _reject("bad_signature", 401, f"signature {check.value}")

    try:
        ingested = await state.pipeline.append(
            RawWebhook.of(
                body,
                source_ip=as_address(ip),
                headers={
                    name: request.headers[name] for name in KEPT_HEADERS if name in request.headers
                },
            )
        )
    except DependencyUnavailable as error:
        # Nothing was promised: Meta keeps retrying a non-200 delivery for days.
        detail = (
            "ingest overloaded" if isinstance(error, IngestOverloaded) else "storage unavailable"
        )
        return _reject("unavailable", 503, detail, {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)})
    outcome = "duplicate" if ingested.duplicate else "accepted"
    metrics.WEBHOOKS_RECEIVED.labels(outcome).inc()
    return JSONResponse({"status": outcome})
