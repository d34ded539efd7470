"""The burst warning of ``ORG_ALERT_PER_MINUTE``: an organization over it is named in a warning
once a minute and counted in ``wapipe_org_bursts_total`` (no organization label: cardinality
stays bounded). Counted per worker process. Nothing is throttled."""

from __future__ import annotations

import logging
import threading

from domain.bursts import BurstWatch
from domain.ports import Clock
from runtime.metrics import worker as metrics

log = logging.getLogger(__name__)


class OrgBursts:
    def __init__(self, per_minute: int, clock: Clock) -> None:
        self._watch = BurstWatch(per_minute)
        self._per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()  # worker threads share one process-wide count

    def saw(self, organization_id: str) -> None:
        with self._lock:
            crossed = self._watch.record(organization_id, self._clock.now())
        if crossed:
            metrics.ORG_BURSTS.inc()
            log.warning(
                "organization over its per-minute webhook threshold (not throttled)",
                extra={"organization_id": organization_id, "per_minute": self._per_minute},
            )
