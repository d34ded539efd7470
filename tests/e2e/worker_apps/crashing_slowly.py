"""Worker with slow ``messages`` effects and an ``e2e_poison`` handler that dies after a while:
whatever else is in flight when the poison strikes dies with it."""

from __future__ import annotations

import os

from tests.e2e.worker_apps import POISON_FIELD, crash_worker_process_slowly, record_effect_slowly
from workers.handlers import HandlerRegistry
from workers.runner import build_worker_app

app = build_worker_app(
    os.environ,
    HandlerRegistry({"messages": record_effect_slowly, POISON_FIELD: crash_worker_process_slowly}),
)
broker = app.broker
