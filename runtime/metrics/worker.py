"""Metrics exported by worker processes (next to Dramatiq's own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from runtime.metrics import GraphMetrics, known_field

REGISTRY = CollectorRegistry()

EVENT_OUTCOMES = ("processed", "retried", "dead", "ignored")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
EVENTS = Counter(
    "wapipe_events_total",
    "Event attempts by field and outcome.",
    ["field", "outcome"],
    registry=REGISTRY,
)
EVENT_DURATION = Histogram(
    "wapipe_event_duration_seconds",
    "Time spent on one event attempt.",
    ["field"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
WEBHOOK_LAG = Histogram(
    "wapipe_webhook_lag_seconds",
    "Time from a webhook's receipt to its last event becoming terminal.",
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
WEBHOOKS_SPLIT = Counter(
    "wapipe_webhooks_split_total",
    "Webhooks split into events, or dead-lettered as unparseable.",
    ["outcome"],
    registry=REGISTRY,
)
RELAY_REQUEUED = Counter(
    "wapipe_relay_requeued_total",
    "Webhooks and events re-enqueued by the relay after their lease expired.",
    ["kind"],
    registry=REGISTRY,
)
WORKER_ENQUEUE_FAILURES = Counter(
    "wapipe_worker_enqueue_failures_total",
    "Enqueues from workers (split fan-out, relay) that failed; the relay retries them.",
    registry=REGISTRY,
)


__all__ = ["known_field"]
UNATTRIBUTED = Counter(
    "wapipe_unattributed_total",
    "Messages and statuses stored without an organization (their number is not connected).",
    ["field"],
    registry=REGISTRY,
)
ACCOUNT_EVENTS = Counter(
    "wapipe_account_events_total",
    "account_update events recorded, by event (events Meta adds later count as 'other').",
    ["event"],
    registry=REGISTRY,
)
ORPHANS_DETECTED = Counter(
    "wapipe_orphans_detected_total",
    "WABAs shared with the partner that no organization could be found for (orphans).",
    registry=REGISTRY,
)

GRAPH = GraphMetrics(REGISTRY)
#: The ``GraphObserver`` of worker processes.
observe_graph_request = GRAPH.observe
ORG_BURSTS = Counter(
    "wapipe_org_bursts_total",
    "Times an organization went over ORG_ALERT_PER_MINUTE webhooks in a minute (warned, never"
    " throttled).",
    registry=REGISTRY,
)
