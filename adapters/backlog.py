"""Gauges read from Postgres at scrape time: backlog size and age, open dead letters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from adapters.postgres import Conn

_BACKLOG = """
SELECT
    (SELECT count(*) FROM event WHERE status IN ('pending', 'processing', 'retrying')),
    (SELECT count(*) FROM webhook_log WHERE status = 'received'),
    extract(epoch FROM now() - least(
        (SELECT min(created_at) FROM event WHERE status IN ('pending', 'processing', 'retrying')),
        (SELECT min(received_at) FROM webhook_log WHERE status = 'received'))),
    (SELECT count(*) FROM dead_letter WHERE replayed_at IS NULL)
"""


def read_backlog(conn: Conn) -> tuple[int, int, float, int]:
    """(open events, unsplit webhooks, oldest open age in seconds, open dead letters)."""
    row: Any = conn.execute(_BACKLOG).fetchone()
    return int(row[0]), int(row[1]), float(row[2] or 0.0), int(row[3])


class BacklogCollector(Collector):
    """A Prometheus collector that queries on each scrape (no staleness, no background job)."""

    def __init__(self, pool: ConnectionPool[Conn]) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._pool.connection(timeout=5) as conn:
            events, webhooks, oldest, dead = read_backlog(conn)
        backlog = GaugeMetricFamily(
            "wapipe_backlog_events",
            "Events and unsplit webhooks not yet terminal.",
            labels=["kind"],
        )
        backlog.add_metric(["event"], events)
        backlog.add_metric(["webhook"], webhooks)
        yield backlog
        yield GaugeMetricFamily(
            "wapipe_backlog_oldest_seconds",
            "Age of the oldest event or unsplit webhook not yet terminal (0 when none).",
            value=oldest,
        )
        yield GaugeMetricFamily(
            "wapipe_dead_letters",
            "Dead letters not yet replayed or purged.",
            value=dead,
        )
