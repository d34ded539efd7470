"""The baselines the ingress is measured against, served exactly like ``wapipe ingress``.

``bare`` is the SPEC §14 baseline: a Starlette endpoint that reads the body and returns 200.
The other variants add the ingress's steps one at a time, for ``python -m bench --explain``:

- ``hmac``: + the ``X-Hub-Signature-256`` check and a JSON answer;
- ``commit``: + the group commit into ``webhook_log`` (the real ``IngestPipeline``), no enqueue;
- ``enqueue``: + the wake-up enqueued on the broker (the real ``BrokerGate``);
- ``pipelined``: ``enqueue`` with the batch's messages sent in one Redis round trip
  (``bench/broker.py``) instead of one round trip per message — a candidate change, measured;
- ``lean``: ``pipelined`` on a pool whose connections are in autocommit mode (the batch's one
  statement commits itself: no separate COMMIT round trip) and are not checked with an extra
  query at every checkout — the candidate changes together.

What the real ingress adds beyond ``enqueue`` is its middleware: the access log, metrics and
the per-IP bad-signature check in Redis.

Run as ``python -m bench.bare_app --variant bare --port P`` (uvicorn, one process, with the
options of ``cli.services.uvicorn_options``: uvloop, httptools, access log off — exactly as
``wapipe ingress`` is served).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.webhooks import WEBHOOK_PATH

VARIANTS = ("bare", "hmac", "commit", "enqueue", "pipelined", "lean")
SIGNATURE_HEADER = "x-hub-signature-256"


async def receive_bare(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


def _healthz(request: Request) -> Response:
    return Response(b"ok")


def create_bare_app() -> Starlette:
    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, receive_bare, methods=["POST"]),
            Route("/healthz", _healthz, methods=["GET"]),
        ]
    )


def create_variant_app(variant: str, environ: dict[str, str]) -> Starlette:
    """One of ``VARIANTS``; all but ``bare`` read the ``WAPIPE_*`` settings from ``environ``."""
    if variant == "bare":
        return create_bare_app()
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")

    from adapters.queue import enqueue_webhooks
    from adapters.webhook_log import RawWebhook
    from ingress.ingest import BrokerGate, IngestPipeline
    from ingress.signature import SignatureCheck, check_signature
    from runtime.bootstrap import build_ingress_deps
    from runtime.settings import Settings

    settings = Settings.from_environ(environ)
    secrets = tuple(str(secret) for secret in settings.app_secrets)
    deps = build_ingress_deps(settings, **_pool_override(variant, settings))
    state: dict[str, IngestPipeline] = {}

    class SkipBroker(BrokerGate):
        """Commits without enqueueing: the ``commit`` variant."""

        async def send(self, webhook_ids: Sequence[int]) -> None:
            return None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await deps.pool.open(wait=False)
        enqueue: Callable[[Sequence[int]], int] = partial(enqueue_webhooks, deps.broker)
        if variant in ("pipelined", "lean"):
            enqueue = partial(_enqueue_webhooks_pipelined, deps.broker)
        gate = SkipBroker(enqueue) if variant == "commit" else BrokerGate(enqueue)
        pipeline = IngestPipeline(deps.pool, gate, relay_lease_seconds=settings.relay_lease_seconds)
        pipeline.start()
        state["pipeline"] = pipeline
        try:
            yield
        finally:
            await pipeline.stop()
            gate.close()
            await deps.aclose()

    async def receive(request: Request) -> Response:
        body = await request.body()
        check = check_signature(secrets, body, request.headers.get(SIGNATURE_HEADER))
        if check is not SignatureCheck.VALID:
            return JSONResponse({"error": "bad_signature"}, status_code=401)
        if variant == "hmac":
            return JSONResponse({"status": "accepted"})
        ingested = await state["pipeline"].append(RawWebhook.of(body))
        return JSONResponse({"status": "duplicate" if ingested.duplicate else "accepted"})

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, receive, methods=["POST"]),
            Route("/healthz", _healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _pool_override(variant: str, settings: Any) -> dict[str, Any]:
    if variant != "lean":
        return {}
    import psycopg_pool

    from adapters.postgres import DEFAULT_POOL_TIMEOUT_S, connect_kwargs
    from runtime.bootstrap import INGRESS_POOL_SIZE

    pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
        str(settings.database_url),
        min_size=1,
        max_size=INGRESS_POOL_SIZE,
        kwargs={**connect_kwargs(application_name="wapipe-bench-lean"), "autocommit": True},
        timeout=DEFAULT_POOL_TIMEOUT_S,
        reconnect_timeout=0,
        name="wapipe-bench-lean",
        open=False,
    )
    return {"pool": pool}


def _enqueue_webhooks_pipelined(broker: Any, webhook_ids: Sequence[int]) -> int:
    from adapters.queue import SPLIT_ACTOR, WEBHOOKS_QUEUE
    from bench.broker import enqueue_pipelined, redis_message
    from domain.errors import DependencyUnavailable

    messages = [redis_message(WEBHOOKS_QUEUE, SPLIT_ACTOR, (item,)) for item in webhook_ids]
    try:
        return enqueue_pipelined(broker, messages)
    except Exception as error:
        raise DependencyUnavailable(f"broker: {type(error).__name__}") from error


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app")
    parser.add_argument("--variant", choices=VARIANTS, default="bare")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import uvicorn

    from cli.services import uvicorn_options
    from runtime.settings import Settings

    # The same uvicorn options as ``wapipe ingress`` (uvloop, httptools, the same concurrency
    # limit): the baselines and the ingress are served one way (SPEC §14).
    uvicorn.run(
        create_variant_app(args.variant, dict(os.environ)),
        host=args.host,
        port=args.port,
        **uvicorn_options(limit_concurrency=Settings().limit_concurrency),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
