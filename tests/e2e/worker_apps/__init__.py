"""Test-only Dramatiq entry modules: the real worker (``build_worker_app``) with test handlers.

Each handler writes its effect through the unit of work (``tests.effects``), inside the
attempt's transaction: the effect commits with the event's outcome or not at all, and an event
whose effect committed twice shows up as two rows.
"""

from __future__ import annotations

import os
import time

from domain.ports import UnitOfWork
from tests.effects import record_effect
from workers.change import Change, Outcome

#: The field whose handler kills its worker process every time (``crashing`` app).
POISON_FIELD = "e2e_poison"
#: Exit status of a worker killed by the poison handler; Dramatiq's main process exits with it.
POISON_EXIT_CODE = 86
#: How long the slow handlers hold their transaction open after writing the effect.
HANDLER_SLEEP_ENV = "E2E_HANDLER_SLEEP_S"
DEFAULT_HANDLER_SLEEP_S = 2.0
#: How long the slow poison runs before it kills its process: longer than a relay pass
#: (lease / 3), so an event re-enqueued with it is in flight beside it when it strikes.
SLOW_POISON_DELAY_S = 1.5


def record_effect_slowly(change: Change, uow: UnitOfWork) -> Outcome:
    """The effect is written, then the transaction stays open: a window to crash the worker in."""
    outcome = record_effect(change, uow)
    time.sleep(float(os.environ.get(HANDLER_SLEEP_ENV, DEFAULT_HANDLER_SLEEP_S)))
    return outcome


def crash_worker_process(change: Change, uow: UnitOfWork) -> Outcome:
    """A poison event: the process dies at once (no exception, no cleanup), every time."""
    os._exit(POISON_EXIT_CODE)


def crash_worker_process_slowly(change: Change, uow: UnitOfWork) -> Outcome:
    """A poison event that works for a while first, as a real one (a huge payload) would."""
    time.sleep(SLOW_POISON_DELAY_S)
    os._exit(POISON_EXIT_CODE)


__all__ = ["record_effect"]
