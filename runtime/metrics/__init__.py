"""Every Prometheus metric of wapipe is defined in this package (names are a contract, SPEC §12).

One module per process kind, so a process creates (and, in multiprocess mode, exports) only
its own metrics: ``ingress`` for the ingress, ``worker`` for Dramatiq workers (exported through
Dramatiq's Prometheus exposition), and the scheduler's gauges read from Postgres at scrape time
(``adapters.backlog``).
"""

from __future__ import annotations

from prometheus_client import disable_created_metrics

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
