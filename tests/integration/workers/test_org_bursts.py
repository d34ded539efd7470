"""ORG_ALERT_PER_MINUTE: an organization over it is warned about once a minute, never throttled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker

from runtime.bootstrap import build_worker_deps
from runtime.metrics import worker as metrics
from tests import state
from tests.builders import text_message
from tests.conftest import SettingsFactory
from tests.fakes import FrozenClock
from tests.integration.workers.conftest import StoreWebhook
from workers.handlers import build_registry
from workers.processing import Attempt, process_event, split_webhook

WABA = "310982745561203"  # the entry.id of tests.builders.text_message


def bursts() -> float:
    return metrics.REGISTRY.get_sample_value("wapipe_org_bursts_total") or 0.0


def test_an_organization_over_its_threshold_is_warned_about_once_and_every_event_processed(
    make_settings: SettingsFactory,
    stub_broker: StubBroker,
    db: psycopg.Connection[Any],
    store_webhook: StoreWebhook,
    caplog: pytest.LogCaptureFixture,
):
    settings = make_settings(ORG_ALERT_PER_MINUTE="2")
    # One frozen minute, so the count cannot straddle a minute boundary.
    clock = FrozenClock(datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC))
    deps = build_worker_deps(settings, broker=stub_broker, draw=lambda: 0.0, clock=clock)
    deps.pool.wait(timeout=10)
    state.seed_connection(db, WABA, "org-burst")
    registry = build_registry(deps)
    before = bursts()
    try:
        with caplog.at_level("WARNING"):
            outcomes = [
                process_event(deps, registry, event_id).outcome
                for _ in range(4)
                for event_id in split_webhook(deps, store_webhook(text_message()))
            ]
    finally:
        deps.close()

    assert outcomes == [Attempt.DONE] * 4
    assert bursts() == before + 1
    warnings = [r for r in caplog.records if "per-minute webhook threshold" in r.getMessage()]
    assert [getattr(r, "organization_id", None) for r in warnings] == ["org-burst"]
