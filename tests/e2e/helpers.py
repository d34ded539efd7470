"""What e2e tests do to the running pipeline: post signed bodies, read Postgres, run the CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from tests.builders import sign
from tests.effects import EFFECTS_PER_EVENT
from tests.processes import REPO_ROOT, wait_until, wapipe_argv

WEBHOOK_PATH = "/webhooks/whatsapp"
CLI_TIMEOUT_S = 60.0
#: Webhook statuses in ``webhook_log`` that are not terminal yet.
OPEN_WEBHOOK_STATUSES = ("received", "split")


def post_signed(client: httpx.Client, body: bytes) -> httpx.Response:
    """POST ``body`` as Meta would: the raw bytes with their ``X-Hub-Signature-256``."""
    return client.post(
        WEBHOOK_PATH,
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)},
    )


def post_all_accepted(client: httpx.Client, bodies: Iterable[bytes]) -> None:
    for body in bodies:
        response = post_signed(client, body)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "accepted"}


def query(
    database_url: str, sql: str, params: Sequence[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Rows of one statement on a short-lived autocommit connection."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(database_url: str, sql: str, params: Sequence[Any] | None = None) -> Any:
    rows = query(database_url, sql, params)
    assert len(rows) == 1, rows
    return rows[0][0]


def execute(database_url: str, sql: str) -> None:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def webhook_statuses(database_url: str) -> dict[str, int]:
    return dict(query(database_url, "SELECT status, count(*) FROM webhook_log GROUP BY status"))


def wait_for_terminal_webhooks(database_url: str, expected: int, *, timeout: float) -> None:
    """Until ``expected`` webhooks are logged and none of them is still open."""

    def done() -> bool:
        statuses = webhook_statuses(database_url)
        still_open = sum(statuses.get(status, 0) for status in OPEN_WEBHOOK_STATUSES)
        return sum(statuses.values()) == expected and still_open == 0

    wait_until(
        done,
        timeout=timeout,
        interval=0.25,
        message=lambda: (
            f"{expected} terminal webhooks; now {webhook_statuses(database_url)}, "
            f"events {event_statuses(database_url)}"
        ),
    )


def event_statuses(database_url: str) -> dict[str, int]:
    return dict(query(database_url, "SELECT status, count(*) FROM event GROUP BY status"))


def effects_per_event(database_url: str) -> dict[int, int]:
    """How many committed effects each event has (events without one are absent)."""
    return dict(query(database_url, EFFECTS_PER_EVENT))


def run_wapipe(environ: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        wapipe_argv(*args),
        env=dict(environ),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def list_webhooks(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """``wapipe webhooks list --json --limit 0``: every webhook, as operators see it."""
    result = run_wapipe(environ, "webhooks", "list", "--json", "--limit", "0")
    assert result.returncode == 0, result.stderr
    items: list[dict[str, Any]] = json.loads(result.stdout)
    return items


def metric_samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of metric ``name`` in a Prometheus exposition, keyed by sorted labels."""
    samples: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                samples[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def counter_value(base_url: str, name: str, **labels: str) -> float:
    """One counter sample from the ingress's /metrics; AssertionError if it is not exposed."""
    response = httpx.get(f"{base_url}/metrics", timeout=5.0)
    assert response.status_code == 200
    samples = metric_samples(response.text, name)
    key = tuple(sorted(labels.items()))
    assert key in samples, f"{name}{labels} not in {sorted(samples)}"
    return samples[key]
