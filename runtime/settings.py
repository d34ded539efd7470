"""Settings: read once from the environment into one frozen, typed object.

Every variable carries the ``WAPIPE_`` prefix (SPEC §3). Secrets are ``Secret`` objects
that print masked; use ``str(secret)`` only where the value is actually needed. Tests
pass a plain dict: ``Settings.from_environ({"WAPIPE_DATABASE_URL": ...})``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar, cast

from psycopg import Error as PsycopgError
from psycopg.conninfo import conninfo_to_dict
from starlette.datastructures import Secret

from domain.retry_policy import RetryPolicy

PREFIX = "WAPIPE_"

DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024 + 64 * 1024  # Meta's 3 MB cap plus headroom
DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_API_VERSION = "v23.0"
DEFAULT_BAD_SIGNATURE_LIMIT_PER_IP = 30
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_MIN_BACKOFF_MS = 1_000
DEFAULT_MAX_BACKOFF_MS = 600_000
DEFAULT_RELAY_LEASE_SECONDS = 30
DEFAULT_NAMESPACE = "wapipe"
#: A body not fully arrived this long after its request started gets 408 (SPEC §3, §13).
DEFAULT_BODY_TIMEOUT_SECONDS = 10.0
#: Bodies the ingress holds waiting for (or in) a group commit before it answers 503 at once.
#: About 0.2–0.5 s of traffic at the rates one process commits: enough to ride out a
#: checkpoint, while a real stall is refused quickly instead of piling up memory.
DEFAULT_INGEST_MAX_PENDING = 1024
#: The same bound in bytes, for large bodies (about ten of Meta's 3 MB ones). A body costs
#: about twice its size while its INSERT runs (our copy and the driver's), so this keeps a
#: stalled ingress well inside SPEC §14's 150 MB.
DEFAULT_INGEST_MAX_PENDING_BYTES = 32 * 1024 * 1024

Env = Literal["development", "staging", "production"]
LogFormat = Literal["json", "console"]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_T = TypeVar("_T")
_TOKEN_KEY = re.compile(r"^(?P<kid>[A-Za-z0-9_-]{1,32}):(?P<hex>[0-9a-fA-F]{64})$")
_GRAPH_VERSION = re.compile(r"^v\d+\.\d+$")
_MAX_PORT = 65_535


class SettingsError(Exception):
    """A variable is missing or malformed; the message names it (never its value)."""


@dataclass(frozen=True, slots=True)
class TokenKey:
    kid: str
    key: Secret

    def material(self) -> bytes:
        return bytes.fromhex(str(self.key))


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: Secret | None = None
    redis_url: Secret | None = None
    broker_url_override: Secret | None = None
    app_secrets: tuple[Secret, ...] = ()
    verify_token: Secret | None = None
    meta_app_id: str | None = None
    graph_base_url: str = DEFAULT_GRAPH_BASE_URL
    graph_api_version: str = DEFAULT_GRAPH_API_VERSION
    token_keys: tuple[TokenKey, ...] = ()
    register_pin: Secret | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rate_limit_per_ip: int = 0
    trusted_proxies: tuple[IpNetwork, ...] = ()
    bad_signature_limit_per_ip: int = DEFAULT_BAD_SIGNATURE_LIMIT_PER_IP
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            DEFAULT_MAX_ATTEMPTS, DEFAULT_MIN_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS
        )
    )
    relay_lease_seconds: int = DEFAULT_RELAY_LEASE_SECONDS
    onboarding_ttl_hours: int = 24
    token_warn_days: int = 30
    token_critical_days: int = 7
    log_retention_days: int = 30
    #: Webhooks per organization per minute above which a warning names it (0: off).
    org_alert_per_minute: int = 6000
    env: Env = "production"
    log_format: LogFormat = "json"
    log_level: str = "INFO"
    host: str = "0.0.0.0"  # noqa: S104 - a service binds every interface by default (SPEC §16)
    port: int = 8000
    worker_metrics_port: int = 9191
    scheduler_metrics_port: int = 9192
    namespace: str = DEFAULT_NAMESPACE
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS
    ingest_max_pending: int = DEFAULT_INGEST_MAX_PENDING
    ingest_max_pending_bytes: int = DEFAULT_INGEST_MAX_PENDING_BYTES
    #: uvicorn's ``limit_concurrency`` (open connections and requests of one process).
    limit_concurrency: int = 2 * DEFAULT_INGEST_MAX_PENDING

    @property
    def broker_url(self) -> Secret | None:
        """``WAPIPE_BROKER_URL`` when set, else the Redis URL."""
        return self.broker_url_override or self.redis_url

    def require(self, *variables: str) -> None:
        """Fail with the names of the listed variables that have no value.

        Raises:
            SettingsError: naming every missing ``WAPIPE_*`` variable.
        """
        values: dict[str, object] = {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "BROKER_URL": self.broker_url,
            "APP_SECRET": self.app_secrets,
            "VERIFY_TOKEN": self.verify_token,
            "META_APP_ID": self.meta_app_id,
            "TOKEN_KEYS": self.token_keys,
        }
        missing = [PREFIX + name for name in variables if not values[name]]
        if missing:
            raise SettingsError("missing required setting(s): " + ", ".join(missing))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build the settings from ``environ``; blank values count as unset.

        Raises:
            SettingsError: a value is malformed (the message names the variable).
        """
        reader = _Reader(environ)
        max_attempts = reader.integer("MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, minimum=1)
        min_backoff = reader.integer("MIN_BACKOFF_MS", DEFAULT_MIN_BACKOFF_MS, minimum=1)
        max_backoff = reader.integer("MAX_BACKOFF_MS", DEFAULT_MAX_BACKOFF_MS, minimum=1)
        try:
            retry = RetryPolicy(max_attempts, min_backoff, max_backoff)
        except ValueError as error:
            raise SettingsError(
                f"{PREFIX}MAX_ATTEMPTS/MIN_BACKOFF_MS/MAX_BACKOFF_MS: {error}"
            ) from None
        warn = reader.integer("TOKEN_WARN_DAYS", 30, minimum=1)
        critical = reader.integer("TOKEN_CRITICAL_DAYS", 7, minimum=0)
        if critical > warn:
            raise SettingsError(
                f"{PREFIX}TOKEN_CRITICAL_DAYS must not exceed {PREFIX}TOKEN_WARN_DAYS"
            )
        max_pending = reader.integer("INGEST_MAX_PENDING", DEFAULT_INGEST_MAX_PENDING, minimum=1)
        # Twice the pending bound by default: every pending body is an open request, and the
        # rest leaves room for bodies being read, slow clients (each held at most
        # BODY_TIMEOUT_SECONDS) and idle keep-alive connections.
        limit_concurrency = reader.integer("LIMIT_CONCURRENCY", 2 * max_pending, minimum=1)
        if limit_concurrency <= max_pending:
            # uvicorn's own 503 has no Retry-After: the ingest queue's must come first.
            raise SettingsError(f"{PREFIX}LIMIT_CONCURRENCY must exceed {PREFIX}INGEST_MAX_PENDING")
        return cls(
            database_url=reader.parsed("DATABASE_URL", _database_url),
            redis_url=reader.parsed("REDIS_URL", _redis_url),
            broker_url_override=reader.parsed("BROKER_URL", _broker_url),
            app_secrets=reader.secret_list("APP_SECRET"),
            verify_token=reader.secret("VERIFY_TOKEN"),
            meta_app_id=reader.text("META_APP_ID"),
            graph_base_url=(reader.text("GRAPH_BASE_URL") or DEFAULT_GRAPH_BASE_URL).rstrip("/"),
            graph_api_version=reader.parsed("GRAPH_API_VERSION", _graph_version)
            or DEFAULT_GRAPH_API_VERSION,
            token_keys=reader.parsed("TOKEN_KEYS", _token_keys) or (),
            register_pin=reader.parsed("REGISTER_PIN", _pin),
            max_body_bytes=reader.integer("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1),
            rate_limit_per_ip=reader.integer("RATE_LIMIT_PER_IP", 0, minimum=0),
            trusted_proxies=reader.parsed("TRUSTED_PROXIES", _networks) or (),
            bad_signature_limit_per_ip=reader.integer(
                "BAD_SIGNATURE_LIMIT_PER_IP", DEFAULT_BAD_SIGNATURE_LIMIT_PER_IP, minimum=0
            ),
            retry=retry,
            relay_lease_seconds=reader.integer(
                "RELAY_LEASE_SECONDS", DEFAULT_RELAY_LEASE_SECONDS, minimum=1
            ),
            onboarding_ttl_hours=reader.integer("ONBOARDING_TTL_HOURS", 24, minimum=1),
            token_warn_days=warn,
            token_critical_days=critical,
            log_retention_days=reader.integer("LOG_RETENTION_DAYS", 30, minimum=1),
            org_alert_per_minute=reader.integer("ORG_ALERT_PER_MINUTE", 6000, minimum=0),
            env=cast(
                Env, reader.choice("ENV", ("development", "staging", "production"), "production")
            ),
            log_format=cast(LogFormat, reader.choice("LOG_FORMAT", ("json", "console"), "json")),
            log_level=reader.choice(
                "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", upper=True
            ),
            host=reader.text("HOST") or "0.0.0.0",  # noqa: S104 - see the field default
            port=reader.integer("PORT", 8000, minimum=0, maximum=_MAX_PORT),
            worker_metrics_port=reader.integer(
                "WORKER_METRICS_PORT", 9191, minimum=0, maximum=_MAX_PORT
            ),
            scheduler_metrics_port=reader.integer(
                "SCHEDULER_METRICS_PORT", 9192, minimum=0, maximum=_MAX_PORT
            ),
            namespace=reader.parsed("NAMESPACE", _namespace) or DEFAULT_NAMESPACE,
            body_timeout_seconds=reader.seconds(
                "BODY_TIMEOUT_SECONDS", DEFAULT_BODY_TIMEOUT_SECONDS
            ),
            ingest_max_pending=max_pending,
            ingest_max_pending_bytes=reader.integer(
                "INGEST_MAX_PENDING_BYTES", DEFAULT_INGEST_MAX_PENDING_BYTES, minimum=1
            ),
            limit_concurrency=limit_concurrency,
        )


class _Reader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str | None:
        value = self._environ.get(PREFIX + name, "").strip()
        return value or None

    def text(self, name: str) -> str | None:
        return self.raw(name)

    def secret(self, name: str) -> Secret | None:
        value = self.raw(name)
        return Secret(value) if value else None

    def secret_list(self, name: str) -> tuple[Secret, ...]:
        value = self.raw(name) or ""
        return tuple(Secret(part.strip()) for part in value.split(",") if part.strip())

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name}: expected an integer") from None
        if number < minimum:
            raise SettingsError(f"{PREFIX}{name}: must be at least {minimum}")
        if maximum is not None and number > maximum:
            raise SettingsError(f"{PREFIX}{name}: must be at most {maximum}")
        return number

    def seconds(self, name: str, default: float) -> float:
        """A positive, finite number of seconds (fractions allowed)."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name}: expected a number of seconds") from None
        if not math.isfinite(number) or number <= 0:
            raise SettingsError(f"{PREFIX}{name}: must be a positive number of seconds")
        return number

    def choice(
        self, name: str, options: tuple[str, ...], default: str, *, upper: bool = False
    ) -> str:
        value = self.raw(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in options:
            raise SettingsError(f"{PREFIX}{name}: expected one of {', '.join(options)}")
        return value

    def parsed(self, name: str, parse: Callable[[str], _T]) -> _T | None:
        value = self.raw(name)
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as error:
            # The parsers' messages never echo the value: it may be a secret.
            raise SettingsError(f"{PREFIX}{name}: {error}") from None


def _database_url(value: str) -> Secret:
    try:
        conninfo_to_dict(value)
    except (PsycopgError, ValueError):
        # libpq's message quotes the string, which may hold a password: never pass it on.
        raise ValueError("expected a postgresql:// URL or a key=value connection string") from None
    return Secret(value)


def _redis_url(value: str) -> Secret:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return Secret(value)


def _broker_url(value: str) -> Secret:
    if not value.startswith(("redis://", "rediss://", "unix://", "amqp://", "amqps://")):
        raise ValueError("expected a redis://, rediss://, unix://, amqp:// or amqps:// URL")
    return Secret(value)


def _graph_version(value: str) -> str:
    if not _GRAPH_VERSION.match(value):
        raise ValueError("expected a version like v23.0")
    return value


def _token_keys(value: str) -> tuple[TokenKey, ...]:
    keys: list[TokenKey] = []
    for position, part in enumerate(value.split(","), start=1):
        match = _TOKEN_KEY.match(part.strip())
        if not match:
            raise ValueError(
                f"key #{position} must be kid:hexkey with a 32-byte (64 hex digit) key"
            )
        keys.append(TokenKey(match["kid"], Secret(match["hex"].lower())))
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise ValueError("key ids must be unique")
    return tuple(keys)


def _pin(value: str) -> Secret:
    if not (len(value) == 6 and value.isdigit()):
        raise ValueError("expected exactly 6 digits")
    return Secret(value)


def _networks(value: str) -> tuple[IpNetwork, ...]:
    networks: list[IpNetwork] = []
    for part in value.split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(f"not an address or CIDR: {part.strip()!r}") from None
    return tuple(networks)


def _namespace(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
        raise ValueError("expected 1-64 letters, digits, '.', '_' or '-'")
    return value
