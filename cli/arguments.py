"""Argument types shared by the operator verbs (``--since``, ``--older-than``, ids)."""

from __future__ import annotations

import argparse
import math
import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(?P<n>\d+)(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``30d``, ``1w``."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 30m, 2h or 7d, got {text!r}")
    return timedelta(**{_UNITS[match["unit"]]: int(match["n"])})


def point_in_time(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO date/time (UTC when no zone is given) or a duration ago (``2h``, ``7d``)."""
    if _DURATION.match(text.strip()):
        return (now or datetime.now(UTC)) - duration(text)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO time (2026-11-29T10:00) or a duration ago (2h, 7d), got {text!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def positive_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer id, got {text!r}")
    return int(text)


def limit(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number (0 = no limit), got {text!r}")
    return int(text)


def rate(text: str) -> float:
    """Operations per second; ``0`` means no limit."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"expected a number of operations per second (0 = no limit), got {text!r}"
        )
    return value
