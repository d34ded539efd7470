"""Gauges read from Postgres at scrape time (served by ``wapipe scheduler``, SPEC §12, §16).

Backlog size and age and open dead letters (``BacklogCollector``); onboardings and business
tokens by status and orphan connections (``StateCollector``). Every status is reported, 0 when
no row has it, so an alert on a label never sees the series vanish.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from adapters.postgres import Conn
from domain.token_health import TokenStatus

ONBOARDING_STATUSES = ("pending", "session_received", "completed", "expired")
TOKEN_STATUSES = tuple(status.value for status in TokenStatus)

_BACKLOG = """
SELECT
    (SELECT count(*) FROM event WHERE status IN ('pending', 'processing', 'retrying')),
    (SELECT count(*) FROM webhook_log WHERE status = 'received'),
    extract(epoch FROM now() - least(
        (SELECT min(created_at) FROM event WHERE status IN ('pending', 'processing', 'retrying')),
        (SELECT min(received_at) FROM webhook_log WHERE status = 'received'))),
    (SELECT count(*) FROM dead_letter WHERE replayed_at IS NULL)
"""


_STATE = """
SELECT 'onboarding', status, count(*) FROM onboarding GROUP BY status
UNION ALL
SELECT 'token', status, count(*) FROM business_token GROUP BY status
UNION ALL
SELECT 'orphan', '', count(*) FROM connection WHERE organization_id IS NULL
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


@dataclass(frozen=True, slots=True)
class StateCounts:
    onboardings: dict[str, int]  # every status of ONBOARDING_STATUSES, 0 when none
    tokens: dict[str, int]  # every status of TOKEN_STATUSES, 0 when none
    orphan_connections: int  # connections no organization claimed yet


def read_state(conn: Conn) -> StateCounts:
    """Onboardings and tokens by status, and orphan connections, in one round trip."""
    onboardings = dict.fromkeys(ONBOARDING_STATUSES, 0)
    tokens = dict.fromkeys(TOKEN_STATUSES, 0)
    orphans = 0
    for kind, status, count in conn.execute(_STATE).fetchall():
        if kind == "onboarding":
            onboardings[status] = int(count)
        elif kind == "token":
            tokens[status] = int(count)
        else:
            orphans = int(count)
    return StateCounts(onboardings, tokens, orphans)


class StateCollector(Collector):
    """Onboardings, tokens and orphan connections, queried on each scrape."""

    def __init__(self, pool: ConnectionPool[Conn]) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._pool.connection(timeout=5) as conn:
            state = read_state(conn)
        onboardings = GaugeMetricFamily(
            "wapipe_onboardings", "Onboardings by status.", labels=["status"]
        )
        for status, count in state.onboardings.items():
            onboardings.add_metric([status], count)
        yield onboardings
        tokens = GaugeMetricFamily(
            "wapipe_tokens", "Business tokens by health status.", labels=["status"]
        )
        for status, count in state.tokens.items():
            tokens.add_metric([status], count)
        yield tokens
        yield GaugeMetricFamily(
            "wapipe_orphan_connections",
            "Connections no organization claimed yet (organization NULL).",
            value=state.orphan_connections,
        )
