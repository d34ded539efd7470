"""Metrics exported by the ingress process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from runtime.metrics import GraphMetrics

REGISTRY = CollectorRegistry()

RECEIVED_OUTCOMES = (
    "accepted",
    "duplicate",
    "bad_signature",
    "too_large",
    "rate_limited",
    "unavailable",
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WEBHOOKS_RECEIVED = Counter(
    "wapipe_webhooks_received_total",
    "Webhook POSTs by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
INGEST_DURATION = Histogram(
    "wapipe_ingest_duration_seconds",
    "Time from request start to the webhook answer.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
ENQUEUE_FAILURES = Counter(
    "wapipe_enqueue_failures_total",
    "Committed webhooks whose wake-up could not be enqueued (the relay enqueues them later).",
    registry=REGISTRY,
)
DEPENDENCY_UP = Gauge(
    "wapipe_dependency_up",
    "1 when the dependency answered its last use or probe, else 0.",
    ["dependency"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
RATE_LIMIT_FAIL_OPEN = Counter(
    "wapipe_rate_limit_fail_open_total",
    "Requests allowed without a rate-limit decision because Redis did not answer.",
    registry=REGISTRY,
)
INGEST_BATCH_SIZE = Histogram(
    "wapipe_ingest_batch_size",
    "Webhooks committed together by one group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
    registry=REGISTRY,
)

#: Why the ingest pipeline refused a body at once (each also counts as ``unavailable``).
INGEST_REFUSED_REASONS = ("queue_full", "writers_down")
INGEST_REFUSED = Counter(
    "wapipe_ingest_refused_total",
    "Signed webhooks answered 503 at once, without a commit attempt, by reason.",
    ["reason"],
    registry=REGISTRY,
)
#: SPEC §13: a body not complete within BODY_TIMEOUT_SECONDS. A counter of its own rather than
#: a new ``outcome``: the outcome set of ``wapipe_webhooks_received_total`` is SPEC §12's.
BODY_TIMEOUTS = Counter(
    "wapipe_webhook_body_timeouts_total",
    "Webhook POSTs answered 408 because the body did not arrive in time.",
    registry=REGISTRY,
)

#: Why the API answered 401 (SPEC §13): no key, not the Bearer scheme, not of a key's form, or
#: unknown/revoked (one reason, as the client sees one answer for both).
API_AUTH_FAILURE_REASONS = ("missing", "scheme", "malformed", "rejected")
API_RESPONSES = Counter(
    "wapipe_api_responses_total",
    "API answers by route (the route table's name) and HTTP status.",
    ["route", "status"],
    registry=REGISTRY,
)
API_AUTH_FAILURES = Counter(
    "wapipe_api_auth_failures_total",
    "API requests answered 401, by reason.",
    ["reason"],
    registry=REGISTRY,
)


def initialise_ingress_labels() -> None:
    """Expose every outcome at 0 from the start, so rates and alerts see the series."""
    for outcome in RECEIVED_OUTCOMES:
        WEBHOOKS_RECEIVED.labels(outcome)
    for reason in INGEST_REFUSED_REASONS:
        INGEST_REFUSED.labels(reason)
    for reason in API_AUTH_FAILURE_REASONS:
        API_AUTH_FAILURES.labels(reason)
    # ``wapipe_dependency_up`` series appear with the first probe: a 0 made up here would
    # read as "down" and fire the alert.


#: The ingress makes one Graph call, the code exchange (SPEC §7.2).
GRAPH = GraphMetrics(REGISTRY)
#: The ``GraphObserver`` of the ingress (the code exchange).
observe_graph_request = GRAPH.observe
