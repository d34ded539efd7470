"""A token health check: decrypt, ask ``debug_token``, record the health (SPEC §9, §16).

Shared by the daily job the scheduler enqueues, the completion job's first look at a new
token and ``wapipe tokens check``. A token Graph refuses as invalid (code 190) is ``invalid``;
one that cannot be decrypted is ``undecryptable`` without asking Graph. Both flag the
connection "reconnect required" with the reason; a healthy token clears the flag.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from domain.connections import require_reconnect
from domain.errors import GraphRejected, TokenUndecryptable
from domain.graph import GraphApi
from domain.ports import UnitOfWork
from domain.token_health import TokenHealth, TokenStatus, token_health

#: Graph's code for an access token that expired, was revoked or never was valid.
INVALID_TOKEN_CODE = 190


def check_token(
    waba_id: str,
    *,
    transaction: Callable[[], AbstractContextManager[UnitOfWork]],
    graph: GraphApi,
    now: datetime,
    warn_days: int,
    critical_days: int,
) -> TokenHealth | None:
    """Check the WABA's token and record what was found; None when the token was replaced
    while Graph was asked (a reconnect): the new token is not given the old one's health.

    No transaction is held while Graph is asked.

    Raises:
        LookupError: no token is stored for the WABA (or it was deleted meanwhile).
        GraphUnavailable, GraphRateLimited: nothing recorded; try again later.
        GraphRejected: Graph refused ``debug_token`` for another reason than the token.
    """
    try:
        with transaction() as uow:
            token = uow.tokens.load(waba_id)
    except TokenUndecryptable as error:
        return _record(transaction, waba_id, TokenHealth.undecryptable(str(error)), now)
    try:
        info = graph.debug_token(token)
    except GraphRejected as error:
        if error.info.code != INVALID_TOKEN_CODE:
            raise
        health = TokenHealth(
            TokenStatus.INVALID, f"graph code {INVALID_TOKEN_CODE}: {error.info.message}"
        )
    else:
        health = token_health(info, now=now, warn_days=warn_days, critical_days=critical_days)
    try:
        with transaction() as uow:
            if uow.tokens.load(waba_id) != token:
                return None
            _apply(uow, waba_id, health, now)
    except TokenUndecryptable as error:
        # Replaced meanwhile by something we cannot read: that is what it is now.
        return _record(transaction, waba_id, TokenHealth.undecryptable(str(error)), now)
    return health


def _record(
    transaction: Callable[[], AbstractContextManager[UnitOfWork]],
    waba_id: str,
    health: TokenHealth,
    now: datetime,
) -> TokenHealth:
    with transaction() as uow:
        _apply(uow, waba_id, health, now)
    return health


def _apply(uow: UnitOfWork, waba_id: str, health: TokenHealth, now: datetime) -> None:
    uow.tokens.record_health(waba_id, health, now)
    require_reconnect(uow, waba_id, health.reason if health.reconnect_required else None)
