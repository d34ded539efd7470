"""In-memory fakes of the domain's ports, keeping the contracts written in ``domain.ports``.

``FakeUnitOfWork.snapshot()`` returns the whole state as plain, comparable data (surrogate
ids replaced by natural keys), so tests can compare two histories of events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from domain.commands import CustomerRef, MessageContent
from domain.errors import TokenUndecryptable
from domain.graph import (
    REQUIRED_SCOPES,
    AccessToken,
    GraphPhoneNumber,
    SyncType,
    TokenInfo,
)
from domain.messages import ORIGIN_PRECEDENCE
from domain.ports import (
    AsOf,
    BusinessContact,
    ChunkRecord,
    Connection,
    CurrentStatus,
    HistoryEntry,
    NumberOwner,
    Onboarding,
    PhoneNumber,
    StateReport,
    StoredMessage,
    StoredStatus,
)
from domain.token_health import TokenHealth


class FakeConnectionRepo:
    def __init__(self) -> None:
        self.rows: dict[str, Connection] = {}

    def get(self, waba_id: str) -> Connection | None:
        return self.rows.get(waba_id)

    def get_for_update(self, waba_id: str) -> Connection | None:
        return self.rows.get(waba_id)

    def insert(self, connection: Connection) -> bool:
        if connection.waba_id in self.rows:
            return False
        self.rows[connection.waba_id] = connection
        return True

    def update(self, connection: Connection) -> None:
        assert connection.waba_id in self.rows, "update of a connection never read"
        self.rows[connection.waba_id] = connection

    def organization_of_business(self, owner_business_id: str) -> str | None:
        for row in sorted(self.rows.values(), key=lambda c: c.waba_id):
            if row.owner_business_id == owner_business_id and row.organization_id is not None:
                return row.organization_id
        return None


class FakeOnboardingRepo:
    def __init__(self) -> None:
        self.by_code: dict[str, str] = {}
        self.by_waba: dict[str, str] = {}
        self.rows: dict[str, Onboarding] = {}
        self.errors: dict[str, str | None] = {}
        self.completed_at: dict[str, datetime] = {}

    def organization_for_tracking_code(self, tracking_code: str) -> str | None:
        row = self.rows.get(tracking_code)
        return row.organization_id if row else self.by_code.get(tracking_code)

    def organization_for_waba(self, waba_id: str) -> str | None:
        for row in self.rows.values():
            if row.waba_id == waba_id and row.status in ("session_received", "completed"):
                return row.organization_id
        return self.by_waba.get(waba_id)

    def get_for_update(self, tracking_code: str) -> Onboarding | None:
        return self.rows.get(tracking_code)

    def set_step(self, tracking_code: str, step: str, *, error: str | None = None) -> None:
        self.rows[tracking_code] = replace(self.rows[tracking_code], step=step)
        self.errors[tracking_code] = error

    def complete(self, tracking_code: str, at: datetime) -> None:
        self.rows[tracking_code] = replace(self.rows[tracking_code], status="completed")
        self.completed_at[tracking_code] = at

    def signup_event_for_waba(self, waba_id: str) -> str | None:
        events = [r.signup_event for r in self.rows.values() if r.waba_id == waba_id]
        return events[-1] if events else None


@dataclass
class _Phone:
    phone: PhoneNumber
    last_inbound_at: datetime | None = None
    activation_step: str | None = None


class FakePhoneNumberRepo:
    def __init__(self, connections: FakeConnectionRepo | None = None) -> None:
        self.rows: dict[str, _Phone] = {}
        self.connections = connections or FakeConnectionRepo()

    def owner_of(self, phone_number_id: str) -> NumberOwner | None:
        phone = self.get(phone_number_id)
        if phone is None:
            return None
        connection = self.connections.get(phone.waba_id)
        return NumberOwner(phone, connection.organization_id if connection else None)

    def get(self, phone_number_id: str) -> PhoneNumber | None:
        row = self.rows.get(phone_number_id)
        return row.phone if row else None

    def add(self, phone: PhoneNumber) -> None:
        self.rows.setdefault(phone.phone_number_id, _Phone(phone))

    def note_inbound(self, phone_number_id: str, at: datetime) -> None:
        row = self.rows.get(phone_number_id)
        if row is not None and (row.last_inbound_at is None or at > row.last_inbound_at):
            row.last_inbound_at = at

    def save(self, phone: PhoneNumber) -> None:
        row = self.rows.get(phone.phone_number_id)
        if row is None:
            self.rows[phone.phone_number_id] = _Phone(phone)
            return
        display = phone.display_phone_number or row.phone.display_phone_number
        row.phone = replace(phone, display_phone_number=display)

    def list_for_waba(self, waba_id: str) -> list[PhoneNumber]:
        return sorted(
            (row.phone for row in self.rows.values() if row.phone.waba_id == waba_id),
            key=lambda phone: phone.phone_number_id,
        )

    def activation_step(self, phone_number_id: str) -> str | None:
        row = self.rows.get(phone_number_id)
        return row.activation_step if row else None

    def set_activation_step(self, phone_number_id: str, step: str) -> None:
        self.rows[phone_number_id].activation_step = step


@dataclass
class _Customer:
    id: int
    ref: CustomerRef
    as_of: AsOf | None  # of the latest report that carried a profile


class FakeCustomerRepo:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], _Customer] = {}

    def save(self, waba_id: str, customer_key: str, ref: CustomerRef, as_of: AsOf) -> int:
        has_profile = bool(ref.name or ref.username)
        row = self.rows.get((waba_id, customer_key))
        if row is None:
            row = _Customer(len(self.rows) + 1, ref, as_of if has_profile else None)
            self.rows[(waba_id, customer_key)] = row
            return row.id
        old = row.ref
        later = has_profile and (row.as_of is None or as_of > row.as_of)
        row.ref = CustomerRef(
            user_id=old.user_id or ref.user_id,
            wa_id=old.wa_id or ref.wa_id,
            parent_user_id=old.parent_user_id or ref.parent_user_id,
            username=ref.username if later else old.username,
            name=ref.name if later else old.name,
        )
        if later:
            row.as_of = as_of
        return row.id

    def by_id(self, customer_id: int | None) -> CustomerRef | None:
        for row in self.rows.values():
            if row.id == customer_id:
                return row.ref
        return None


@dataclass
class _Message:
    stored: StoredMessage
    status: str | None = None
    rank: int = 0
    status_at: datetime | None = None


def _fill(old: Any, new: Any) -> Any:
    return old if old is not None else new


class FakeMessageRepo:
    def __init__(self) -> None:
        self.rows: dict[str, _Message] = {}

    def save(self, message: StoredMessage) -> None:
        row = self.rows.get(message.wamid)
        if row is None:
            self.rows[message.wamid] = _Message(message)
            return
        old = row.stored
        keep_origin = ORIGIN_PRECEDENCE[old.origin] >= ORIGIN_PRECEDENCE[message.origin]
        content = MessageContent(
            **{
                name: _fill(getattr(old.content, name), getattr(message.content, name))
                for name in MessageContent.__dataclass_fields__
            }
        )
        row.stored = replace(
            old,
            origin=old.origin if keep_origin else message.origin,
            organization_id=_fill(old.organization_id, message.organization_id),
            customer_id=_fill(old.customer_id, message.customer_id),
            sent_at=_fill(old.sent_at, message.sent_at),
            content=content,
            nul_replaced=old.nul_replaced or message.nul_replaced,
        )

    def current_status(self, wamid: str) -> CurrentStatus | None:
        row = self.rows.get(wamid)
        return CurrentStatus(row.status, row.rank) if row else None

    def set_status(self, wamid: str, status: str, rank: int, at: datetime) -> None:
        row = self.rows[wamid]
        row.status, row.rank, row.status_at = status, rank, at

    def attribute_waba(self, waba_id: str, organization_id: str) -> None:
        for row in self.rows.values():
            if row.stored.waba_id == waba_id and row.stored.organization_id is None:
                row.stored = replace(row.stored, organization_id=organization_id)


class FakeStatusRepo:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredStatus] = {}

    def add(self, status: StoredStatus) -> bool:
        key = (status.wamid, status.status)
        if key in self.rows:
            return False
        self.rows[key] = status
        return True


class FakeAccountRepo:
    def __init__(self) -> None:
        self.history: dict[str, HistoryEntry] = {}
        self.state: dict[tuple[str, str, str], StateReport] = {}

    def add_history(self, entry: HistoryEntry) -> bool:
        if entry.source in self.history:
            return False
        self.history[entry.source] = entry
        return True

    def set_state(self, report: StateReport) -> None:
        key = (report.waba_id, report.subject, report.aspect)
        current = self.state.get(key)
        if current is None or report.as_of > current.as_of:
            self.state[key] = report


class FakeCoexistenceRepo:
    def __init__(self) -> None:
        self.contacts: dict[tuple[str, str], BusinessContact] = {}
        self.chunks: dict[str, ChunkRecord] = {}

    def set_contact(self, contact: BusinessContact) -> None:
        key = (contact.phone_number_id, contact.contact_phone)
        current = self.contacts.get(key)
        if current is None or contact.as_of > current.as_of:
            self.contacts[key] = contact

    def add_chunk(self, chunk: ChunkRecord) -> bool:
        if chunk.source in self.chunks:
            return False
        self.chunks[chunk.source] = chunk
        return True


class FakeTokenRepo:
    """Tokens by WABA; a WABA in ``undecryptable`` fails as a tampered ciphertext would."""

    def __init__(self) -> None:
        self.tokens: dict[str, AccessToken] = {}
        self.undecryptable: set[str] = set()
        self.health: dict[str, TokenHealth] = {}

    def load(self, waba_id: str) -> AccessToken:
        if waba_id in self.undecryptable:
            raise TokenUndecryptable(f"token of WABA {waba_id}: key id unknown")
        if waba_id not in self.tokens:
            raise LookupError(f"no token for WABA {waba_id}")
        return self.tokens[waba_id]

    def record_health(self, waba_id: str, health: TokenHealth, checked_at: datetime) -> None:
        self.health[waba_id] = health


class FakeAuditRepo:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, *, actor: str, action: str, subject: str, details: Mapping[str, Any]) -> None:
        self.rows.append(
            {"actor": actor, "action": action, "subject": subject, "details": dict(details)}
        )


@dataclass
class FakeUnitOfWork:
    connections: FakeConnectionRepo = field(default_factory=FakeConnectionRepo)
    onboardings: FakeOnboardingRepo = field(default_factory=FakeOnboardingRepo)
    phone_numbers: FakePhoneNumberRepo = field(default_factory=FakePhoneNumberRepo)
    customers: FakeCustomerRepo = field(default_factory=FakeCustomerRepo)
    messages: FakeMessageRepo = field(default_factory=FakeMessageRepo)
    statuses: FakeStatusRepo = field(default_factory=FakeStatusRepo)
    accounts: FakeAccountRepo = field(default_factory=FakeAccountRepo)
    coexistence: FakeCoexistenceRepo = field(default_factory=FakeCoexistenceRepo)
    tokens: FakeTokenRepo = field(default_factory=FakeTokenRepo)
    audit: FakeAuditRepo = field(default_factory=FakeAuditRepo)

    def __post_init__(self) -> None:
        # The join of phone_number and connection the real repository does.
        self.phone_numbers.connections = self.connections

    def connect(
        self, waba_id: str, organization_id: str | None, *, owner_business_id: str | None = None
    ) -> Connection:
        """Seed a connection as onboarding would leave it (tests' given)."""
        connection = Connection(
            waba_id=waba_id,
            organization_id=organization_id,
            owner_business_id=owner_business_id,
            status="active" if organization_id else "orphan",
            status_reason=None,
            status_at=datetime(2000, 1, 1, tzinfo=UTC),
            status_source="seed",
        )
        self.connections.rows[waba_id] = connection
        return connection

    def snapshot(self) -> dict[str, Any]:
        """Everything stored, with customers by their natural key instead of their id."""
        customers = {row.id: key for key, row in self.customers.rows.items()}
        return {
            "connections": dict(self.connections.rows),
            "phones": {k: (v.phone, v.last_inbound_at) for k, v in self.phone_numbers.rows.items()},
            "customers": {key: (row.ref, row.as_of) for key, row in self.customers.rows.items()},
            "messages": {
                wamid: (
                    replace(row.stored, customer_id=None),
                    customers.get(row.stored.customer_id or -1),
                    row.status,
                    row.rank,
                    row.status_at,
                )
                for wamid, row in self.messages.rows.items()
            },
            "statuses": dict(self.statuses.rows),
            "history": dict(self.accounts.history),
            "state": dict(self.accounts.state),
            "contacts": dict(self.coexistence.contacts),
            "chunks": dict(self.coexistence.chunks),
        }


def transaction_of(uow: FakeUnitOfWork) -> Any:
    """``job.transaction`` over a fake: every transaction sees the same in-memory state."""

    @contextmanager
    def transaction() -> Iterator[FakeUnitOfWork]:
        yield uow

    return transaction


class FrozenClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class FakeGraphApi:
    """An in-memory ``GraphApi``: phones per WABA, one ``TokenInfo`` for every token, the
    calls it got, and failures queued per operation (``fail_next``)."""

    def __init__(self, token_info: TokenInfo | None = None) -> None:
        self.token_info = token_info or TokenInfo(
            is_valid=True, expires_at=None, scopes=REQUIRED_SCOPES
        )
        self.phones: dict[str, list[GraphPhoneNumber]] = {}
        self.calls: list[tuple[str, ...]] = []
        self._failures: dict[str, list[Exception]] = {}

    def fail_next(self, operation: str, *errors: Exception) -> None:
        self._failures.setdefault(operation, []).extend(errors)

    def _call(self, operation: str, *args: str) -> None:
        queued = self._failures.get(operation)
        if queued:
            raise queued.pop(0)
        self.calls.append((operation, *args))

    def called(self, operation: str) -> list[tuple[str, ...]]:
        return [call for call in self.calls if call[0] == operation]

    def exchange_code(self, code: str) -> AccessToken:
        self._call("exchange_code", code)
        return AccessToken(f"token-for-{code}")

    def debug_token(self, token: AccessToken) -> TokenInfo:
        self._call("debug_token")
        return self.token_info

    def subscribe_app(self, waba_id: str, token: AccessToken) -> None:
        self._call("subscribe_app", waba_id)

    def list_phone_numbers(self, waba_id: str, token: AccessToken) -> list[GraphPhoneNumber]:
        self._call("list_phone_numbers", waba_id)
        return list(self.phones.get(waba_id, []))

    def register_phone(self, phone_number_id: str, token: AccessToken, pin: str) -> None:
        self._call("register_phone", phone_number_id, pin)

    def request_sync(
        self, phone_number_id: str, token: AccessToken, sync_type: SyncType
    ) -> str | None:
        self._call("request_sync", phone_number_id, sync_type)
        return f"req-{phone_number_id}-{sync_type}"
