"""The worker's broker: explicit retry bounds, durable dead letters, relay, Prometheus."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from runtime.bootstrap import WorkerDeps, build_broker
from runtime.settings import Settings
from workers.middleware import DurableDeadLetters, Relay


def base_middleware(settings: Settings, *, prometheus: bool) -> list[dramatiq.Middleware]:
    """Dramatiq's defaults with bounded retries (its own default is 20 over ~30 days)."""
    policy = settings.retry
    middleware: list[dramatiq.Middleware] = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=policy.max_attempts,
            min_backoff=policy.min_backoff_ms,
            max_backoff=policy.max_backoff_ms,
        ),
    ]
    if prometheus:
        # Opt-in in Dramatiq 2.x; serves every process's metrics (ours too) on one port.
        from dramatiq.middleware.prometheus import Prometheus

        middleware.append(Prometheus())
    return middleware


def attach_pipeline_middleware(broker: dramatiq.Broker, deps: WorkerDeps, *, relay: bool) -> None:
    """Middleware that needs the deps (which need the broker): added once both exist."""
    broker.add_middleware(DurableDeadLetters(deps))
    if relay:
        broker.add_middleware(Relay(deps))


def build_worker_broker(settings: Settings, *, prometheus: bool) -> dramatiq.Broker:
    return build_broker(settings, middleware=base_middleware(settings, prometheus=prometheus))
