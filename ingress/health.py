"""Liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

import asyncio
import contextlib
import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.queue import ping_broker
from ingress.state import IngressState
from runtime.metrics import ingress as metrics

PROBE_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _postgres_ok(state: IngressState) -> bool:
    async def probe() -> None:
        async with state.deps.pool.connection(timeout=PROBE_TIMEOUT_S) as conn:
            await conn.execute("SELECT 1")

    try:
        await asyncio.wait_for(probe(), PROBE_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - any failure of the probe means "down"
        return False
    return True


async def _broker_ok(state: IngressState) -> bool:
    url = str(state.settings.broker_url)
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(ping_broker, state.deps.broker, url), PROBE_TIMEOUT_S
        )
    except TimeoutError:
        return False


async def _redis_ok(state: IngressState) -> bool | None:
    """None when no Redis is configured (a RabbitMQ broker without ``REDIS_URL``)."""
    client = state.deps.redis
    if client is None:
        return None
    try:
        return bool(await asyncio.wait_for(client.ping(), PROBE_TIMEOUT_S))
    except (RedisError, OSError, TimeoutError):
        return False


async def probe_dependencies(state: IngressState) -> dict[str, str]:
    """Probe each dependency and set its ``wapipe_dependency_up`` gauge.

    Redis (rate limits) is a gauge only: the readiness answer names Postgres and the broker.
    """
    postgres, broker, redis = await asyncio.gather(
        _postgres_ok(state), _broker_ok(state), _redis_ok(state)
    )
    metrics.DEPENDENCY_UP.labels("postgres").set(int(postgres))
    metrics.DEPENDENCY_UP.labels("broker").set(int(broker))
    if redis is None:
        # Not a dependency here: no series, rather than a 0 that reads as "down".
        with contextlib.suppress(KeyError):
            metrics.DEPENDENCY_UP.remove("redis")
    else:
        metrics.DEPENDENCY_UP.labels("redis").set(int(redis))
    return {"postgres": "ok" if postgres else "down", "broker": "ok" if broker else "down"}


async def readyz(request: Request) -> Response:
    """200 ready/degraded while webhooks can be committed; else 503.

    That takes Postgres answering and at least one ingest writer running: with every writer
    gone Postgres may answer the probe while each POST would wait for its timeout.
    """
    state: IngressState = request.app.state.ingress
    checks = await probe_dependencies(state)
    checks["writers"] = "ok" if state.pipeline.writers_alive else "down"
    if checks["postgres"] == "down" or checks["writers"] == "down":
        status, code = "not_ready", 503
    elif checks["broker"] == "down":
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    return JSONResponse({"status": status, "checks": checks}, status_code=code)


def metrics_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return metrics.REGISTRY


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)
