"""ASGI factory for uvicorn: ``uvicorn --factory ingress.asgi:app_from_environ``."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from ingress.app import create_app
from runtime.bootstrap import build_ingress_deps
from runtime.logging import configure_logging
from runtime.settings import Settings


def app_from_environ() -> Starlette:
    settings = Settings.from_environ(os.environ)
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    return create_app(build_ingress_deps(settings))
