"""Entry module for ``dramatiq workers.app`` (what ``wapipe worker`` runs).

Dramatiq's CLI imports this module once per worker process and finds the global broker.
"""

from __future__ import annotations

import os

from workers.handlers import build_registry
from workers.runner import build_worker_app

app = build_worker_app(os.environ, build_registry)
broker = app.broker
