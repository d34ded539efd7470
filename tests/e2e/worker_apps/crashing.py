"""Worker that records ``messages`` effects and dies on every ``e2e_poison`` event."""

from __future__ import annotations

import os

from tests.e2e.worker_apps import POISON_FIELD, crash_worker_process, record_effect
from workers.handlers import HandlerRegistry
from workers.runner import build_worker_app

app = build_worker_app(
    os.environ,
    HandlerRegistry({"messages": record_effect, POISON_FIELD: crash_worker_process}),
)
broker = app.broker
