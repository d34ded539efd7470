"""Entry module for ``dramatiq workers.app``: settings → broker → deps → actors.

``wapipe worker`` checks the settings, prepares the environment (metrics directory and port)
and runs Dramatiq's CLI on this module, which builds everything once per worker process.
"""

from __future__ import annotations

import os

import dramatiq

from runtime.bootstrap import build_worker_deps
from runtime.logging import configure_logging
from runtime.settings import Settings
from workers.actors import register_actors
from workers.broker import attach_pipeline_middleware, build_worker_broker
from workers.handlers import default_registry

settings = Settings.from_environ(os.environ)
configure_logging(log_format=settings.log_format, level=settings.log_level)
broker = build_worker_broker(settings, prometheus=bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")))
deps = build_worker_deps(settings, broker=broker)
attach_pipeline_middleware(broker, deps, relay=True)
actors = register_actors(broker, deps, default_registry())
dramatiq.set_broker(broker)
