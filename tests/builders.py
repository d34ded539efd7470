"""Builders for Meta webhook bodies as they arrive on the wire, and their signatures.

Meta sends compact JSON with non-ASCII as lowercase ``\\uXXXX`` escapes and ``/`` as ``\\/``,
and signs exactly those bytes. ``wire_bytes`` reproduces that; ``json.dumps`` defaults do not.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "payloads"
APP_SECRET = "fixture_app_secret_5f1c2a9e"

_ids = itertools.count(1)


def unique_suffix() -> str:
    """Digits unique within the test session (ids, texts)."""
    return f"{next(_ids):06d}"


def wire_bytes(payload: Any) -> bytes:
    """Meta's wire format: compact, ASCII-only with ``\\uXXXX``, ``/`` escaped as ``\\/``."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def load_payload(name: str) -> dict[str, Any]:
    """A captured sample from ``tests/payloads`` (pretty-printed there; re-encode for the wire)."""
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def sample_names() -> list[str]:
    return sorted(path.stem for path in PAYLOADS.glob("*.json"))


def envelope(
    *changes: tuple[str, dict[str, Any]], entry_id: str = "310982745561203"
) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": entry_id, "changes": [{"field": f, "value": v} for f, v in changes]}],
    }


def text_message(
    body: str | None = None, *, phone_number_id: str = "418275530912846"
) -> dict[str, Any]:
    """A ``messages`` webhook with one inbound text; unique wamid and text per call."""
    payload = copy.deepcopy(load_payload("messages_text"))
    suffix = unique_suffix()
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    message = value["messages"][0]
    message["id"] = f"wamid.TEST{suffix}"
    message["text"]["body"] = (
        body if body is not None else f"caf\u00e9 / n\u00ba {suffix} \U0001f600"
    )
    return payload


def partner_added(waba_id: str | None = None) -> dict[str, Any]:
    payload = copy.deepcopy(load_payload("account_update_partner_added"))
    suffix = unique_suffix()
    payload["entry"][0]["changes"][0]["value"]["waba_info"]["waba_id"] = waba_id or f"3401{suffix}"
    return payload


def mixed_payload(index: int) -> dict[str, Any]:
    """A rotating mix of fields (messages, statuses, account updates, unknown, batched)."""
    kinds: list[Callable[[], dict[str, Any]]] = [
        text_message,
        partner_added,
        lambda: _unique(load_payload("statuses_delivered")),
        lambda: _unique(load_payload("batched_multiple_changes_one_entry")),
        lambda: _unique(load_payload("message_template_status_update")),
        lambda: envelope(("made_up_field", {"n": unique_suffix()})),
    ]
    return kinds[index % len(kinds)]()


def _unique(payload: dict[str, Any]) -> dict[str, Any]:
    """Make a sample unique (so it is not a duplicate delivery) without changing its shape."""
    payload["entry"][0]["time"] = int(unique_suffix())
    return payload
