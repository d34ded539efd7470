"""Handlers by webhook ``field``; a field nobody registered is ``ignored``."""

from __future__ import annotations

from collections.abc import Mapping

from domain.ports import UnitOfWork
from runtime.bootstrap import WorkerDeps
from workers.change import Change, Handler, Outcome
from workers.fields import account_update, coexistence, messages, waba


class HandlerRegistry:
    def __init__(self, handlers: Mapping[str, Handler] | None = None) -> None:
        self._handlers: dict[str, Handler] = dict(handlers or {})

    def dispatch(self, change: Change, uow: UnitOfWork) -> Outcome:
        handler = self._handlers.get(change.field)
        if handler is None:
            return Outcome.IGNORED
        return handler(change, uow)

    def __contains__(self, field: str) -> bool:
        return field in self._handlers


def build_registry(deps: WorkerDeps) -> HandlerRegistry:
    """The handlers production runs, built from the worker's dependencies (later handlers
    take the Graph client, the token cipher, the clock from ``deps``)."""
    return HandlerRegistry(
        {
            "messages": messages.handle_messages,
            "account_update": account_update.handle_account_update,
            "smb_message_echoes": coexistence.handle_message_echoes,
            "smb_app_state_sync": coexistence.handle_state_sync,
            "history": coexistence.handle_history,
            **waba.HANDLERS,
        }
    )
