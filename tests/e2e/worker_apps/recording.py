"""Worker whose ``messages`` handler records one effect per event."""

from __future__ import annotations

import os

from tests.e2e.worker_apps import record_effect
from workers.handlers import HandlerRegistry
from workers.runner import build_worker_app

app = build_worker_app(os.environ, HandlerRegistry({"messages": record_effect}))
broker = app.broker
