"""``PgUnitOfWork``: the domain's repositories over one connection, inside the caller's
transaction. It never commits: the worker commits the effect with the event's status."""

from __future__ import annotations

from adapters.account_repos import PgAccountRepo, PgCoexistenceRepo
from adapters.audit_repo import PgAuditRepo
from adapters.connection_repos import PgConnectionRepo, PgOnboardingRepo, PgPhoneNumberRepo
from adapters.message_repos import PgCustomerRepo, PgMessageRepo, PgStatusRepo
from adapters.postgres import Conn
from adapters.token_repo import PgTokenRepo
from domain.ports import (
    AccountRepo,
    AuditRepo,
    CoexistenceRepo,
    ConnectionRepo,
    CustomerRepo,
    MessageRepo,
    OnboardingRepo,
    PhoneNumberRepo,
    StatusRepo,
    TokenRepo,
)
from domain.token_crypto import TokenCipher


class PgUnitOfWork:
    def __init__(self, conn: Conn, cipher: TokenCipher | None = None) -> None:
        self.connections: ConnectionRepo = PgConnectionRepo(conn)
        self.onboardings: OnboardingRepo = PgOnboardingRepo(conn)
        self.phone_numbers: PhoneNumberRepo = PgPhoneNumberRepo(conn)
        self.customers: CustomerRepo = PgCustomerRepo(conn)
        self.messages: MessageRepo = PgMessageRepo(conn)
        self.statuses: StatusRepo = PgStatusRepo(conn)
        self.accounts: AccountRepo = PgAccountRepo(conn)
        self.coexistence: CoexistenceRepo = PgCoexistenceRepo(conn)
        self.tokens: TokenRepo = PgTokenRepo(conn, cipher)
        self.audit: AuditRepo = PgAuditRepo(conn)
