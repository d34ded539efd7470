"""The domain's ``TokenRepo`` over ``adapters.token_store``, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from adapters import token_store
from adapters.postgres import Conn
from domain.graph import AccessToken
from domain.token_crypto import TokenCipher
from domain.token_health import TokenHealth


class PgTokenRepo:
    def __init__(self, conn: Conn, cipher: TokenCipher | None) -> None:
        self._conn = conn
        self._cipher = cipher

    def load(self, waba_id: str) -> AccessToken:
        if self._cipher is None:
            raise LookupError("no token keys are configured (WAPIPE_TOKEN_KEYS)")
        return token_store.load_token(self._conn, self._cipher, waba_id)

    def record_health(self, waba_id: str, health: TokenHealth, checked_at: datetime) -> None:
        token_store.record_health(self._conn, waba_id, health, checked_at=checked_at)
