"""How every operator command reaches Postgres: the settings it needs, one connection."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.postgres import Conn, connect
from runtime.settings import Settings


def database_settings(environ: Mapping[str, str], *required: str) -> Settings:
    """The settings, failing (exit 1, naming the variables) without a database or ``required``."""
    settings = Settings.from_environ(environ)
    settings.require("DATABASE_URL", *required)
    return settings


def connect_cli(settings: Settings) -> Conn:
    """An autocommit connection: each statement, batch or service step commits on its own
    (the services open their own transactions where several statements must go together)."""
    return connect(str(settings.database_url), name="wapipe-cli", autocommit=True)
