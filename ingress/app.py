"""The ingress ASGI application: ``create_app(deps)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from adapters.onboarding_cache import OnboardingCache
from adapters.queue import enqueue_webhook_batch
from ingress.access_log import AccessLogMiddleware
from ingress.api.app import API_PREFIX, create_api
from ingress.api.context import ApiContext
from ingress.endpoints import receive_webhook, verify_webhook_subscription
from ingress.health import healthz, metrics_endpoint, probe_dependencies, readyz
from ingress.ingest import BrokerGate, IngestPipeline
from ingress.state import IngressState
from runtime.bootstrap import IngressDeps
from runtime.metrics import ingress as metrics

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"


def api_context(deps: IngressDeps) -> ApiContext:
    """What the API's endpoints work with: its pools, the broker, the onboarding cache, the
    code exchange and the token cipher."""
    cache = None
    if deps.redis is not None:
        cache = OnboardingCache(deps.redis, namespace=deps.settings.namespace)
    return ApiContext(
        pool=deps.api_pool,
        db=deps.service_pool,
        broker=deps.broker,
        onboarding_cache=cache,
        code_exchange=deps.code_exchange,
        cipher=deps.cipher,
        settings=deps.settings,
    )


def create_app(deps: IngressDeps) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await deps.pool.open(wait=False)
        await deps.api_pool.open(wait=False)
        if deps.service_pool is not None:
            deps.service_pool.open(wait=False)
        gate = BrokerGate(partial(enqueue_webhook_batch, deps.broker))
        pipeline = IngestPipeline(
            deps.pool,
            gate,
            relay_lease_seconds=deps.settings.relay_lease_seconds,
            max_pending=deps.settings.ingest_max_pending,
            max_pending_bytes=deps.settings.ingest_max_pending_bytes,
        )
        pipeline.start()
        state = IngressState(
            deps=deps,
            pipeline=pipeline,
            app_secrets=tuple(str(secret) for secret in deps.settings.app_secrets),
        )
        app.state.ingress = state
        metrics.initialise_ingress_labels()
        checks = await probe_dependencies(state)
        log.info("ingress ready", extra={"checks": checks, "env": deps.settings.env})
        try:
            yield
        finally:
            await pipeline.stop()
            gate.close()
            await deps.aclose()

    routes = [
        Route(WEBHOOK_PATH, verify_webhook_subscription, methods=["GET"]),
        Route(WEBHOOK_PATH, receive_webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        # Its own middleware (API keys) and its own pools: the webhook routes stay outside both.
        Mount(API_PREFIX, app=create_api(api_context(deps))),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(AccessLogMiddleware)])
