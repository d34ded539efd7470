"""The GET subscription handshake Meta sends when the callback URL is set or edited."""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def verify_subscription(query: Mapping[str, str], verify_token: str | None) -> str | None:
    """The ``hub.challenge`` to echo, or None when mode or token is wrong.

    The token comparison is constant-time; the challenge is echoed verbatim (Meta calls it
    a string in the WhatsApp docs and an int elsewhere, so it is never parsed).
    """
    if not verify_token or query.get("hub.mode") != "subscribe":
        return None
    offered = query.get("hub.verify_token", "")
    if not hmac.compare_digest(offered.encode(), verify_token.encode()):
        return None
    return query.get("hub.challenge")
