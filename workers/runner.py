"""Builds a worker process: settings → broker → deps → actors (the worker's composition)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import dramatiq

from runtime.bootstrap import WorkerDeps, build_worker_deps
from runtime.logging import configure_logging
from runtime.settings import Settings
from workers.actors import Actors, register_actors
from workers.broker import attach_pipeline_middleware, build_worker_broker
from workers.handlers import HandlerRegistry


@dataclass(frozen=True)
class WorkerApp:
    broker: dramatiq.Broker
    deps: WorkerDeps
    actors: Actors


RegistryFactory = Callable[[WorkerDeps], HandlerRegistry]


def build_worker_app(
    environ: Mapping[str, str], registry: HandlerRegistry | RegistryFactory
) -> WorkerApp:
    """Everything one Dramatiq worker process runs, set as the global broker.

    ``registry`` is the handlers, or a factory building them from the worker's deps (what
    production passes: later handlers take the Graph client, the cipher, the clock).
    Prometheus is on when ``wapipe worker`` prepared its multiprocess directory.
    """
    settings = Settings.from_environ(environ)
    settings.require("DATABASE_URL", "BROKER_URL")
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    broker = build_worker_broker(settings, prometheus=bool(environ.get("PROMETHEUS_MULTIPROC_DIR")))
    deps = build_worker_deps(settings, broker=broker)
    attach_pipeline_middleware(broker, deps, relay=True)
    handlers = registry if isinstance(registry, HandlerRegistry) else registry(deps)
    actors = register_actors(broker, deps, handlers)
    dramatiq.set_broker(broker)
    return WorkerApp(broker, deps, actors)
