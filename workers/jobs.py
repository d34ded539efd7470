"""Jobs that come from no webhook: onboarding completion, phone activation, token checks.

Each is an event row of kind ``job`` (``adapters.events.insert_job``), so it has attempts,
backoff, a dead letter and replay like any event. A job handler runs outside any transaction
(it calls Graph) and records its steps through ``job.transaction()`` as it goes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from domain.errors import PermanentError
from domain.graph import GraphApi
from domain.onboarding import OnboardingSettings, activate_selected_phone, complete_onboarding
from domain.token_checks import check_token
from runtime.bootstrap import WorkerDeps
from workers.change import Job, JobHandler, Outcome

log = logging.getLogger(__name__)

ONBOARDING_COMPLETION = "onboarding_completion"
PHONE_ACTIVATION = "phone_activation"
TOKEN_CHECK = "token_check"  # noqa: S105 - a job name, not a secret


def build_job_handlers(deps: WorkerDeps) -> Mapping[str, JobHandler]:
    settings = deps.settings
    onboarding_settings = OnboardingSettings(
        warn_days=settings.token_warn_days,
        critical_days=settings.token_critical_days,
        register_pin=str(settings.register_pin) if settings.register_pin else None,
    )

    def graph() -> GraphApi:
        if deps.graph is None:
            raise PermanentError(
                "Graph is not configured (WAPIPE_META_APP_ID, WAPIPE_APP_SECRET)",
                reason="not_configured",
            )
        if deps.cipher is None:
            raise PermanentError(
                "no token keys are configured (WAPIPE_TOKEN_KEYS)", reason="not_configured"
            )
        return deps.graph

    def run_completion(job: Job) -> Outcome:
        result = complete_onboarding(
            _param(job, "tracking_code"),
            transaction=job.transaction,
            graph=graph(),
            now=deps.clock.now,
            settings=onboarding_settings,
        )
        if result.stopped is not None:
            log.warning(
                "onboarding stopped before completion",
                extra={"event_id": job.event_id, "step": result.step, "why": result.stopped},
            )
        return Outcome.PROCESSED

    def run_phone_activation(job: Job) -> Outcome:
        activate_selected_phone(
            _param(job, "waba_id"),
            _param(job, "phone_number_id"),
            transaction=job.transaction,
            graph=graph(),
            settings=onboarding_settings,
        )
        return Outcome.PROCESSED

    def run_token_check(job: Job) -> Outcome:
        check_token(
            _param(job, "waba_id"),
            transaction=job.transaction,
            graph=graph(),
            now=deps.clock.now(),
            warn_days=settings.token_warn_days,
            critical_days=settings.token_critical_days,
        )
        return Outcome.PROCESSED

    return {
        ONBOARDING_COMPLETION: _lookups_are_permanent(run_completion),
        PHONE_ACTIVATION: _lookups_are_permanent(run_phone_activation),
        TOKEN_CHECK: _lookups_are_permanent(run_token_check),
    }


def _lookups_are_permanent(handler: JobHandler) -> JobHandler:
    """A job naming an onboarding, number or token that does not exist cannot succeed later."""

    def run(job: Job) -> Outcome:
        try:
            return handler(job)
        except LookupError as error:
            raise PermanentError(str(error), reason="not_found") from error

    return run


def _param(job: Job, name: str) -> str:
    value = job.params.get(name)
    if not isinstance(value, str) or not value:
        raise PermanentError(f"job {job.field} lacks its {name!r}", reason="invalid_job")
    return value
