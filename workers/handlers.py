"""Handlers by webhook ``field``; a field nobody registered is ``ignored``."""

from __future__ import annotations

from collections.abc import Mapping

from domain.errors import PermanentError
from domain.ports import UnitOfWork
from runtime.bootstrap import WorkerDeps
from workers.bursts import OrgBursts
from workers.change import Change, Handler, Job, JobHandler, Outcome
from workers.fields import account_update, coexistence, messages, waba
from workers.jobs import build_job_handlers


class HandlerRegistry:
    """Change handlers by webhook field, and job handlers by job name."""

    def __init__(
        self,
        handlers: Mapping[str, Handler] | None = None,
        jobs: Mapping[str, JobHandler] | None = None,
    ) -> None:
        self._handlers: dict[str, Handler] = dict(handlers or {})
        self._jobs: dict[str, JobHandler] = dict(jobs or {})

    def dispatch(self, change: Change, uow: UnitOfWork) -> Outcome:
        handler = self._handlers.get(change.field)
        if handler is None:
            return Outcome.IGNORED
        return handler(change, uow)

    def run_job(self, job: Job) -> Outcome:
        """Run a job.

        Raises:
            PermanentError: no handler knows this job (a job of a newer release?).
        """
        handler = self._jobs.get(job.field)
        if handler is None:
            raise PermanentError(f"no handler for job {job.field!r}", reason="unknown_job")
        return handler(job)

    def __contains__(self, field: str) -> bool:
        return field in self._handlers


def build_registry(deps: WorkerDeps) -> HandlerRegistry:
    """The handlers production runs, built from the worker's dependencies (later handlers
    take the Graph client, the token cipher, the clock from ``deps``)."""
    return HandlerRegistry(
        {
            "messages": messages.build_messages_handler(
                OrgBursts(deps.settings.org_alert_per_minute, deps.clock)
            ),
            "account_update": account_update.handle_account_update,
            "smb_message_echoes": coexistence.handle_message_echoes,
            "smb_app_state_sync": coexistence.handle_state_sync,
            "history": coexistence.handle_history,
            **waba.HANDLERS,
        },
        jobs=build_job_handlers(deps),
    )
