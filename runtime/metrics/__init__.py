"""Every Prometheus metric of wapipe is defined in this package (names are a contract, SPEC §12).

One module per process kind, so a process creates (and, in multiprocess mode, exports) only
its own metrics: ``ingress`` for the ingress, ``worker`` for Dramatiq workers (exported through
Dramatiq's Prometheus exposition), and the scheduler's gauges read from Postgres at scrape time
(``adapters.backlog``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

# ``*_created`` series double every counter and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


def known_field(field: str) -> str:
    """The ``field`` label: Meta's field name when it is one we know, else ``other``."""
    return field if field in KNOWN_FIELDS else "other"


KNOWN_FIELDS = frozenset(
    {
        "account_alerts",
        "account_review_update",
        "account_update",
        "automatic_events",
        "business_capability_update",
        "history",
        "message_template_components_update",
        "message_template_quality_update",
        "message_template_status_update",
        "messages",
        "partner_solutions",
        "payment_configuration_update",
        "phone_number_name_update",
        "phone_number_quality_update",
        "security",
        "smb_app_state_sync",
        "smb_message_echoes",
        "template_category_update",
        "user_preferences",
        "business_username_update",
        # Jobs that come from no webhook (their ``field`` names the job).
        "onboarding_completion",
        "phone_activation",
        "token_check",
    }
)


class GraphMetrics:
    """The Graph request metrics of SPEC §12 in one process's registry (the ingress makes the
    code exchange, workers the rest: same names, each in its own process)."""

    #: Graph calls take tens of milliseconds to seconds; the top buckets catch the timeouts.
    BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "wapipe_graph_requests_total",
            "Graph API requests by operation and outcome (ok, rate_limited, rejected,"
            " unavailable).",
            ["operation", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "wapipe_graph_request_duration_seconds",
            "Time of one Graph API request, whatever its outcome.",
            ["operation"],
            buckets=self.BUCKETS,
            registry=registry,
        )

    def observe(self, operation: str, outcome: str, seconds: float) -> None:
        """A ``GraphObserver``: labels come from the client's bounded sets."""
        self.requests.labels(operation, outcome).inc()
        self.duration.labels(operation).observe(seconds)
