"""Worker whose ``messages`` handler records its effect, then holds the transaction open."""

from __future__ import annotations

import os

from tests.e2e.worker_apps import record_effect_slowly
from workers.handlers import HandlerRegistry
from workers.runner import build_worker_app

app = build_worker_app(os.environ, HandlerRegistry({"messages": record_effect_slowly}))
broker = app.broker
