"""Errors of the pipeline, grouped by what the caller does next.

    PipelineError                 base of everything raised on purpose
    ├── TransientError            retry with backoff (the world may change)
    │   ├── DependencyUnavailable   Postgres/broker/Graph unreachable or timed out
    │   ├── ConcurrencyConflict     serialization failure, deadlock, lock or statement timeout
    │   └── ClaimLost               another worker took the event; drop this attempt
    └── PermanentError            dead-letter at once; retrying cannot help
        ├── UnparseablePayload      signed body that is not a WhatsApp envelope
        ├── InvalidChange           a change whose value breaks the schema of its field
        └── DataRejected            Postgres refused the data itself (DataError, a constraint
                                    our idempotent writes cannot explain)

An exception outside this tree is a bug or a failure nobody classified: it is retried like
a transient error, and logged with its traceback.

Every error carries a short machine ``reason`` that becomes a metric label and the
dead letter's ``reason`` column; ``str(error)`` is the human detail. Neither may hold
a secret.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of the errors wapipe raises on purpose."""

    reason: str = "error"

    def __init__(self, detail: str = "", *, reason: str | None = None) -> None:
        super().__init__(detail or self.reason)
        if reason is not None:
            self.reason = reason


class TransientError(PipelineError):
    """The attempt failed for a reason that may pass: retry with backoff."""

    reason = "transient"


class DependencyUnavailable(TransientError):
    """A dependency (database, broker, Graph API) did not answer in time."""

    reason = "dependency_unavailable"


class ConcurrencyConflict(TransientError):
    """The database aborted the statement for a reason that passes: deadlock, serialization
    failure, lock or statement timeout."""

    reason = "db_conflict"


class ClaimLost(TransientError):
    """Another worker claimed the event after us; this attempt must not commit."""

    reason = "claim_lost"


class PermanentError(PipelineError):
    """Retrying cannot help: dead-letter now with ``reason``."""

    reason = "permanent"


class UnparseablePayload(PermanentError):
    """The signed body is not JSON or not a ``whatsapp_business_account`` envelope."""

    reason = "unparseable"


class InvalidChange(PermanentError):
    """A change value does not match the schema of its field."""

    reason = "invalid_change"


class DataRejected(PermanentError):
    """Postgres refused the data itself; the same data would be refused again."""

    reason = "data_error"
