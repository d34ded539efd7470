"""Fixtures for end-to-end tests: a database of the test's own, process environments, logs.

The processes get the same ``WAPIPE_*`` environment an operator would set, built from
``settings_environ`` with free ports and short relay lease and backoff, so recovery paths
run in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from bench.procs import child_environ, free_port
from tests.conftest import settings_environ
from tests.processes import LOG_TAIL_LINES, ThrowawayRedis, throwaway_redis

EnvironFactory = Callable[..., dict[str, str]]

#: Short lease and backoff: the relay and retries recover within seconds.
E2E_SETTINGS = {
    "HOST": "127.0.0.1",
    "RELAY_LEASE_SECONDS": "2",
    "MIN_BACKOFF_MS": "50",
    "MAX_BACKOFF_MS": "200",
    "LOG_FORMAT": "console",
}


@pytest.fixture
def e2e_database_url(fresh_database: Callable[[], str]) -> str:
    """A migrated database used by this test alone."""
    return fresh_database()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def make_environ(e2e_database_url: str, redis_url: str, namespace: str) -> EnvironFactory:
    """The environment for wapipe processes of this test; each call gets fresh ports.

    ``redis`` replaces the shared Redis (a ``ThrowawayRedis`` URL); keyword overrides use the
    variable names without the prefix: ``make_environ(MAX_ATTEMPTS="3")``.
    """

    def build(*, redis: str | None = None, **overrides: str) -> dict[str, str]:
        settings = {
            "PORT": str(free_port()),
            "WORKER_METRICS_PORT": str(free_port()),
            **E2E_SETTINGS,
            **overrides,
        }
        return child_environ(
            settings_environ(e2e_database_url, redis or redis_url, namespace, **settings)
        )

    return build


@pytest.fixture
def redis_server(log_dir: Path) -> Iterator[ThrowawayRedis]:
    """A private Redis the test may stop and start again (never the machine's)."""
    with throwaway_redis(log_dir) as server:
        yield server


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, attach the tail of every process log the test wrote and did not print."""
    report = yield
    logs = getattr(item, "funcargs", {}).get("log_dir")
    if report.failed and isinstance(logs, Path) and logs.is_dir():
        for path in sorted(logs.glob("*.log")):
            if str(path) in report.capstdout:
                continue  # already printed by ``tests.processes.managed``
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            report.sections.append(
                (f"process log {path.name} (last lines)", "\n".join(lines[-LOG_TAIL_LINES:]))
            )
    return report
