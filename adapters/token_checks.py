"""``wapipe tokens check``: the token health check of every stored token (SPEC §9).

The rule is ``domain.token_checks.check_token`` (shared with the daily ``token_check`` job and
the onboarding completion job): decrypt → ``debug_token`` → health → recorded on the token,
and the connection flagged "reconnect required" (or cleared). Here each token commits on its
own; Graph unavailable, throttling or refusing for another reason than an invalid token leaves
the row as it was, reported as not checked (the next run tries again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from psycopg import pq

from adapters.postgres import Conn
from adapters.token_store import tokens_for_check
from adapters.unit_of_work import PgUnitOfWork
from domain.errors import GraphRateLimited, GraphRejected, GraphUnavailable
from domain.graph import GraphApi
from domain.ports import UnitOfWork
from domain.token_checks import check_token
from domain.token_crypto import TokenCipher
from domain.token_health import TokenHealth

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """One token's check: its new health, or why it was not checked (the row is unchanged)."""

    waba_id: str
    health: TokenHealth | None
    not_checked: str | None = None

    @property
    def checked(self) -> bool:
        return self.health is not None


def check_tokens(
    conn: Conn,
    cipher: TokenCipher,
    graph: GraphApi,
    *,
    now: datetime,
    warn_days: int,
    critical_days: int,
    organization_id: str | None = None,
) -> list[TokenCheck]:
    """Check every stored token (or one organization's) and record each outcome.

    Each token's outcome commits on its own, so ``conn`` must have no transaction open.

    Raises:
        RuntimeError: ``conn`` has a transaction open.
    """
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("check_tokens needs a connection with no transaction open")
    checks: list[TokenCheck] = []
    for waba_id in tokens_for_check(conn, organization_id):
        check = _check_one(
            conn,
            cipher,
            graph,
            waba_id,
            now=now,
            warn_days=warn_days,
            critical_days=critical_days,
        )
        if check is None:  # the token was deleted meanwhile
            continue
        if check.health is None:
            log.warning(
                "token of WABA %s not checked: %s",
                waba_id,
                check.not_checked,
                extra={"waba_id": waba_id},
            )
        else:
            log.info(
                "token of WABA %s is %s",
                waba_id,
                check.health.status.value,
                extra={"waba_id": waba_id, "token_status": check.health.status.value},
            )
        checks.append(check)
    return checks


def _check_one(
    conn: Conn,
    cipher: TokenCipher,
    graph: GraphApi,
    waba_id: str,
    *,
    now: datetime,
    warn_days: int,
    critical_days: int,
) -> TokenCheck | None:
    @contextmanager
    def transaction() -> Iterator[UnitOfWork]:
        with conn.transaction():
            yield PgUnitOfWork(conn, cipher)

    try:
        health = check_token(
            waba_id,
            transaction=transaction,
            graph=graph,
            now=now,
            warn_days=warn_days,
            critical_days=critical_days,
        )
    except LookupError:
        return None
    except (GraphUnavailable, GraphRateLimited) as error:
        return TokenCheck(waba_id, None, f"{error.reason}: {error}")
    except GraphRejected as error:
        return TokenCheck(waba_id, None, f"graph refused debug_token: {error}")
    if health is None:
        return TokenCheck(waba_id, None, "the token was replaced during the check")
    return TokenCheck(waba_id, health)
