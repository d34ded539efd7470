"""Errors of the pipeline, grouped by what the caller does next.

    PipelineError                 base of everything raised on purpose
    ├── TransientError            retry with backoff (the world may change)
    │   ├── DependencyUnavailable   Postgres/broker/Graph unreachable or timed out
    │   │   └── GraphUnavailable      Graph answered 5xx, timed out or could not be reached
    │   ├── GraphRateLimited        Graph throttled us (codes 4, 80007, 130429, 131048, …)
    │   ├── ConcurrencyConflict     serialization failure, deadlock, lock or statement timeout
    │   └── ClaimLost               another worker took the event; drop this attempt
    └── PermanentError            dead-letter at once; retrying cannot help
        ├── UnparseablePayload      signed body that is not a WhatsApp envelope
        ├── InvalidChange           a change whose value breaks the schema of its field
        ├── DataRejected            Postgres refused the data itself (DataError, a constraint
        │                           our idempotent writes cannot explain)
        ├── GraphRejected           Graph refused the call (a 4xx that is not a rate limit),
        │                           with Meta's code and message
        ├── TokenUndecryptable      a stored token whose key id is unknown or whose
        │                           ciphertext or owner does not match
        ├── ConnectionNotFound      no connection for that WABA
        └── WabaClaimedElsewhere    the WABA already belongs to another organization

An exception outside this tree is a bug or a failure nobody classified: it is retried like
a transient error, and logged with its traceback.

Every error carries a short machine ``reason`` that becomes a metric label and the
dead letter's ``reason`` column; ``str(error)`` is the human detail. Neither may hold
a secret.
"""

from __future__ import annotations

from dataclasses import dataclass


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


class GraphUnavailable(DependencyUnavailable):
    """Graph answered 5xx, timed out, or could not be reached."""

    reason = "graph_unavailable"


@dataclass(frozen=True, slots=True)
class GraphErrorInfo:
    """Meta's error object, as much of it as is safe to keep (never a token)."""

    code: int | None
    subcode: int | None
    message: str
    fbtrace_id: str | None = None


class GraphRateLimited(TransientError):
    """Graph throttled the call; retry later with backoff."""

    reason = "graph_rate_limited"

    def __init__(self, info: GraphErrorInfo) -> None:
        super().__init__(f"graph rate limit (code {info.code}): {info.message}")
        self.info = info


class GraphRejected(PermanentError):
    """Graph refused the call for good; the dead letter keeps Meta's code and message."""

    reason = "graph_rejected"

    def __init__(self, operation: str, info: GraphErrorInfo) -> None:
        super().__init__(f"graph {operation} refused (code {info.code}): {info.message}")
        self.operation = operation
        self.info = info


class TokenUndecryptable(PermanentError):
    """A stored token cannot be decrypted: unknown key id, tampered, or another row's."""

    reason = "undecryptable"


class ConnectionNotFound(PermanentError):
    """No connection exists for the WABA named."""

    reason = "connection_not_found"


class WabaClaimedElsewhere(PermanentError):
    """The WABA belongs to another organization (or is no orphan): nothing was changed."""

    reason = "waba_claimed_elsewhere"
