"""Handlers by webhook ``field``; a field nobody registered is ``ignored``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from adapters.events import EventRecord
from adapters.postgres import Conn


class Outcome(Enum):
    PROCESSED = "processed"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class EventContext:
    """What a handler gets: the event and the connection of the attempt's transaction.

    Whatever the handler writes through ``conn`` commits together with the event's status,
    or not at all.
    """

    event: EventRecord
    conn: Conn


Handler = Callable[[EventContext], Outcome]


class HandlerRegistry:
    def __init__(self, handlers: Mapping[str, Handler] | None = None) -> None:
        self._handlers: dict[str, Handler] = dict(handlers or {})

    def dispatch(self, context: EventContext) -> Outcome:
        handler = self._handlers.get(context.event.field)
        if handler is None:
            return Outcome.IGNORED
        return handler(context)


def default_registry() -> HandlerRegistry:
    """The handlers production runs. Empty until the domain handlers land: every field is
    recorded as ``ignored`` (stored, never dead-lettered), which is what it truly is today."""
    return HandlerRegistry()
