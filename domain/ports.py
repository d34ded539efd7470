"""The ports the domain talks to: small repositories behind one unit of work, and a clock.

Each repository has one real implementation in ``adapters`` (SQL, joined to the caller's
transaction) and one fake in ``tests.fakes``; both keep the contracts written here. Writes
keyed by Meta's ids or by a ``source`` are idempotent: the same write twice changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.commands import CustomerRef, Direction, MessageContent, Origin
from domain.graph import AccessToken
from domain.token_health import TokenHealth

#: (Meta's time, source): the order in which "later wins" rules compare two reports.
AsOf = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class Connection:
    waba_id: str
    organization_id: str | None
    owner_business_id: str | None
    status: str
    status_reason: str | None
    status_at: datetime
    status_source: str
    #: Why the customer must go through Embedded Signup again (token scopes, expiry…).
    reconnect_reason: str | None = None

    @property
    def status_as_of(self) -> AsOf:
        return (self.status_at, self.status_source)


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    phone_number_id: str
    waba_id: str
    display_phone_number: str | None
    status: str
    #: Also on the WhatsApp Business app: synced, never registered (Graph's word on it).
    coexistence: bool = False


@dataclass(frozen=True, slots=True)
class Onboarding:
    """An Embedded Signup session started by the SaaS (SPEC §7)."""

    tracking_code: str
    organization_id: str
    status: str
    waba_id: str | None
    business_id: str | None
    phone_number_id: str | None
    signup_event: str | None
    #: The last step its completion job finished (it resumes after it); None: none yet.
    step: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StoredMessage:
    wamid: str
    direction: Direction
    origin: Origin
    organization_id: str | None
    waba_id: str
    phone_number_id: str
    customer_id: int | None
    sent_at: datetime | None
    content: MessageContent
    nul_replaced: bool = False


@dataclass(frozen=True, slots=True)
class StoredStatus:
    wamid: str
    status: str
    occurred_at: datetime
    recipient_id: str | None
    recipient_user_id: str | None
    errors: tuple[Mapping[str, Any], ...]
    pricing: Mapping[str, Any] | None
    conversation: Mapping[str, Any] | None
    callback_data: str | None
    raw: Mapping[str, Any] = dataclasses.field(compare=False)


@dataclass(frozen=True, slots=True)
class CurrentStatus:
    status: str | None
    rank: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    source: str
    waba_id: str
    field: str
    kind: str
    subject: str
    occurred_at: datetime
    details: Mapping[str, Any] = dataclasses.field(compare=False)


@dataclass(frozen=True, slots=True)
class StateReport:
    """The latest value of one aspect of one subject of a WABA."""

    waba_id: str
    subject: str
    aspect: str
    value: Mapping[str, Any]
    as_of: AsOf


@dataclass(frozen=True, slots=True)
class BusinessContact:
    phone_number_id: str
    contact_phone: str
    waba_id: str
    full_name: str | None
    first_name: str | None
    present: bool
    as_of: AsOf


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    source: str
    waba_id: str
    phone_number_id: str
    phase: int | None
    chunk_order: int | None
    progress: int | None
    threads: int
    messages: int
    errors: tuple[Mapping[str, Any], ...]


class ConnectionRepo(Protocol):
    def get(self, waba_id: str) -> Connection | None:
        """The connection as it is now, not locked; None if there is none."""

    def get_for_update(self, waba_id: str) -> Connection | None:
        """The connection, locked until the unit of work ends; None if there is none."""

    def insert(self, connection: Connection) -> bool:
        """Create it; False (and nothing written) if another writer created it first."""

    def update(self, connection: Connection) -> None:
        """Store a connection read with ``get_for_update``."""

    def organization_of_business(self, owner_business_id: str) -> str | None:
        """The organization of an attached connection of that business portfolio, if any."""


class OnboardingRepo(Protocol):
    def organization_for_tracking_code(self, tracking_code: str) -> str | None: ...

    def organization_for_waba(self, waba_id: str) -> str | None:
        """The organization whose onboarding session reported this WABA, if one did."""

    def get_for_update(self, tracking_code: str) -> Onboarding | None:
        """The onboarding, locked until the unit of work ends."""

    def set_step(self, tracking_code: str, step: str, *, error: str | None = None) -> None:
        """Record the last step its completion job finished (and why it stopped, if so)."""

    def complete(self, tracking_code: str, at: datetime) -> None: ...

    def signup_event_for_waba(self, waba_id: str) -> str | None:
        """The Embedded Signup ``event`` the latest session of this WABA reported."""


@dataclass(frozen=True, slots=True)
class NumberOwner:
    """A known number and the organization of its WABA's connection (None: unattributed)."""

    phone: PhoneNumber
    organization_id: str | None


class PhoneNumberRepo(Protocol):
    def get(self, phone_number_id: str) -> PhoneNumber | None: ...

    def owner_of(self, phone_number_id: str) -> NumberOwner | None:
        """The number and its organization in one look; None if the number is unknown."""

    def add(self, phone: PhoneNumber) -> None:
        """Record a number (a number already known is left as it is)."""

    def note_inbound(self, phone_number_id: str, at: datetime) -> None:
        """Move the number's last inbound time forward to ``at`` (never back)."""

    def save(self, phone: PhoneNumber) -> None:
        """Insert or update the number as Graph lists it (display number, status)."""

    def list_for_waba(self, waba_id: str) -> list[PhoneNumber]: ...

    def activation_step(self, phone_number_id: str) -> str | None:
        """The last activation step done for the number (registered, synced…), if any."""

    def set_activation_step(self, phone_number_id: str, step: str) -> None: ...


class CustomerRepo(Protocol):
    def save(self, waba_id: str, customer_key: str, ref: CustomerRef, as_of: AsOf) -> int:
        """The customer's id, created if new. Ids are filled, never forgotten (a later
        message without ``wa_id`` keeps the stored one). Name and username, together, are
        those of the latest ``as_of`` among the reports that carry a name or username."""


class MessageRepo(Protocol):
    def save(self, message: StoredMessage) -> None:
        """Insert, or fill the fields a stored copy lacks (first non-empty value wins)."""

    def current_status(self, wamid: str) -> CurrentStatus | None:
        """The message's current status, locked until the unit of work ends."""

    def set_status(self, wamid: str, status: str, rank: int, at: datetime) -> None: ...

    def attribute_waba(self, waba_id: str, organization_id: str) -> None:
        """Give the WABA's unattributed messages to ``organization_id`` (others unchanged)."""


class StatusRepo(Protocol):
    def add(self, status: StoredStatus) -> bool:
        """Record one (wamid, status); False if that pair was already recorded."""


class AccountRepo(Protocol):
    def add_history(self, entry: HistoryEntry) -> bool:
        """Append one history row; False if its ``source`` was already recorded."""

    def set_state(self, report: StateReport) -> None:
        """Keep the report with the latest ``as_of`` for its (WABA, subject, aspect)."""


class CoexistenceRepo(Protocol):
    def set_contact(self, contact: BusinessContact) -> None:
        """Keep the contact report with the latest ``as_of`` for its (number, contact)."""

    def add_chunk(self, chunk: ChunkRecord) -> bool:
        """Record one history chunk; False if its ``source`` was already recorded."""


class TokenRepo(Protocol):
    def load(self, waba_id: str) -> AccessToken:
        """The WABA's business token, decrypted.

        Raises:
            TokenUndecryptable: unknown key id, tampered, or another row's ciphertext (the
                row is marked ``undecryptable``).
            LookupError: no token is stored for the WABA.
        """

    def record_health(self, waba_id: str, health: TokenHealth, checked_at: datetime) -> None:
        """Record the token's health as of ``checked_at``."""


class AuditRepo(Protocol):
    def record(self, *, actor: str, action: str, subject: str, details: Mapping[str, Any]) -> None:
        """Append one row to the audit log (who, what, on what; the time is the database's)."""


class UnitOfWork(Protocol):
    """The repositories of one atomic change: everything commits together or not at all
    (with the event's status, in the worker)."""

    @property
    def connections(self) -> ConnectionRepo: ...
    @property
    def onboardings(self) -> OnboardingRepo: ...
    @property
    def phone_numbers(self) -> PhoneNumberRepo: ...
    @property
    def customers(self) -> CustomerRepo: ...
    @property
    def messages(self) -> MessageRepo: ...
    @property
    def statuses(self) -> StatusRepo: ...
    @property
    def accounts(self) -> AccountRepo: ...
    @property
    def coexistence(self) -> CoexistenceRepo: ...
    @property
    def tokens(self) -> TokenRepo: ...
    @property
    def audit(self) -> AuditRepo: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
