"""What a service function refuses, grouped by what its caller answers.

    ServiceError        base; ``reason`` is a short machine word, ``str()`` the human detail
    ├── NotFound          no such thing, or one the caller may not see (the API: 404; CLI: 1)
    ├── Expired           the onboarding's tracking code is past its lifetime (410)
    ├── Conflict          the thing exists but is in a state that refuses the request (409)
    └── InvalidChoice     a value names something that does not belong there (422 on
                          ``field``)

None of them ever holds a token, a code or a key.
"""

from __future__ import annotations


class ServiceError(Exception):
    reason: str = "error"


class NotFound(ServiceError, LookupError):
    reason = "not_found"


class Expired(ServiceError):
    reason = "expired"


class Conflict(ServiceError):
    reason = "conflict"


class InvalidChoice(ServiceError, ValueError):
    reason = "invalid_choice"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
