"""What a field handler receives and returns, and the wire-model parsing every one shares.

A handler is a thin translator (STYLE rule 10): it parses the change's value with its wire
model from ``schemas``, builds the domain's commands and calls the domain through the unit of
work, which writes in the attempt's transaction — the effect commits with the event's status
or not at all. A value that breaks its field's schema is an ``InvalidChange`` (dead-lettered
at the first attempt): retrying the same bytes cannot help.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import pydantic

from domain.errors import InvalidChange
from domain.ports import UnitOfWork
from schemas.wire import WireModel

ModelT = TypeVar("ModelT", bound=WireModel)

#: How many schema errors a dead letter's message names.
MAX_REPORTED_ERRORS = 5


class Outcome(Enum):
    PROCESSED = "processed"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Change:
    """What a handler gets: one change of one stored webhook, U+0000 already replaced."""

    event_id: int
    field: str
    entry_id: str
    entry_time: int | None
    received_at: datetime
    value: Mapping[str, Any]
    nul_replaced: bool = False

    @property
    def occurred_at(self) -> datetime:
        """Meta's time for the change (``entry.time``), else when we received it."""
        if self.entry_time is None:
            return self.received_at
        return datetime.fromtimestamp(self.entry_time, UTC)

    def source(self, *item: object) -> str:
        """A key naming this change (and an item inside it) by content, not by delivery.

        Meta may deliver the same change again inside another body (a new webhook, a new
        event id): the same content gives the same source, so history is written once.
        """
        canonical = json.dumps(
            [self.field, self.entry_id, self.entry_time, self.value],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
        return ":".join([self.field, digest, *(str(part) for part in item)])


Handler = Callable[[Change, UnitOfWork], Outcome]


@dataclass(frozen=True, slots=True)
class Job:
    """What a job handler gets: a job that came from no webhook (onboarding completion, token
    checks), run outside any transaction so it may call Graph without holding a lock.

    ``transaction()`` opens a short transaction of its own: a job calls Graph first and records
    what it learnt after, step by step and idempotently, so a retry resumes where it stopped.
    """

    event_id: int
    field: str
    params: Mapping[str, Any]
    attempts: int
    transaction: Callable[[], AbstractContextManager[UnitOfWork]]


JobHandler = Callable[[Job], Outcome]


def parse_value(model: type[ModelT], change: Change) -> ModelT:
    """The change's value as ``model``.

    Raises:
        InvalidChange: the value breaks the field's schema (names the fields, never values).
    """
    try:
        return model.model_validate(change.value)
    except pydantic.ValidationError as error:
        problems = error.errors(include_input=False, include_url=False)
        details = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'value'}: {problem['msg']}"
            for problem in problems[:MAX_REPORTED_ERRORS]
        )
        more = len(problems) - MAX_REPORTED_ERRORS
        suffix = f" (+{more} more)" if more > 0 else ""
        raise InvalidChange(f"{change.field}: {details}{suffix}") from None


def unix_time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
