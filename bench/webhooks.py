"""Signed webhook requests as Meta puts them on the wire, pre-built as raw HTTP/1.1 bytes.

Bodies follow ``tests/builders.py``'s ``wire_bytes`` (compact JSON, ASCII-only with ``\\uXXXX``
escapes, ``/`` escaped as ``\\/``) and are padded to a target size. Every body carries a
sequence number, so no two requests of a run are duplicate deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

WEBHOOK_PATH = "/webhooks/whatsapp"
DEFAULT_BODY_BYTES = 2048
SEQUENCE_DIGITS = 12
_MARK = "@SEQ@"


def wire_bytes(payload: Any) -> bytes:
    """Meta's wire format: compact, ASCII-only with ``\\uXXXX``, ``/`` escaped as ``\\/``."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def text_message_payload(marker: str, text: str) -> dict[str, Any]:
    """A ``messages`` webhook with one inbound text message (the commonest delivery)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "310982745561203",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15557650134",
                                "phone_number_id": "418275530912846",
                            },
                            "contacts": [
                                {
                                    "profile": {"name": "Marcus Reed"},
                                    "wa_id": "16505550148",
                                    "user_id": "US.70319826455109382",
                                }
                            ],
                            "messages": [
                                {
                                    "from": "16505550148",
                                    "from_user_id": "US.70319826455109382",
                                    "id": f"wamid.BENCH{marker}",
                                    "timestamp": "1768471200",
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


@dataclass(frozen=True, slots=True)
class BodyTemplate:
    """A wire body split around its sequence numbers: ``parts[0] + seq + parts[1] + …``."""

    parts: tuple[bytes, ...]

    @classmethod
    def build(cls, tag: str, size: int = DEFAULT_BODY_BYTES) -> BodyTemplate:
        """A template whose bodies are ``size`` bytes long (or the unpadded minimum).

        ``tag`` makes the bodies of one run (or one generator process) unlike any other's.
        """
        if not tag.isalnum():
            raise ValueError("tag must be letters and digits")
        marker = f"{tag}{_MARK}"
        # Accents, a slash and an emoji, escaped on the wire as Meta does.
        prefix = f"caf\u00e9 / n\u00ba {_MARK} \U0001f600 "
        unpadded = wire_bytes(text_message_payload(marker, prefix))
        width = len(unpadded) + 2 * (SEQUENCE_DIGITS - len(_MARK))
        padding = "x" * max(0, size - width)
        body = wire_bytes(text_message_payload(marker, prefix + padding))
        return cls(tuple(body.split(_MARK.encode())))

    def body(self, sequence: int) -> bytes:
        digits = b"%0*d" % (SEQUENCE_DIGITS, sequence)
        if len(digits) != SEQUENCE_DIGITS:
            raise ValueError(f"sequence {sequence} does not fit {SEQUENCE_DIGITS} digits")
        return digits.join(self.parts)


def http_request(host: str, port: int, body: bytes, signature: str | None) -> bytes:
    """A complete keep-alive ``POST /webhooks/whatsapp`` as bytes."""
    lines = [
        f"POST {WEBHOOK_PATH} HTTP/1.1",
        f"Host: {host}:{port}",
        "User-Agent: facebookexternalua",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if signature is not None:
        lines.append(f"X-Hub-Signature-256: {signature}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


class RequestFactory:
    """Signed, unique requests for one generator process: ``request(n)`` for n = 0, 1, …"""

    def __init__(self, host: str, port: int, secret: str, tag: str, body_bytes: int) -> None:
        self._key = secret.encode()
        self._template = BodyTemplate.build(tag, body_bytes)
        size = len(self._template.body(0))
        # Everything but the signature is the same for every request: build it once.
        self._head = http_request(host, port, b"x" * size, None)[: -size - 2]

    def request(self, sequence: int) -> bytes:
        body = self._template.body(sequence)
        digest = hmac.new(self._key, body, hashlib.sha256).hexdigest().encode()
        return b"".join((self._head, b"X-Hub-Signature-256: sha256=", digest, b"\r\n\r\n", body))

    def prebuild(self, start: int, count: int) -> list[bytes]:
        return [self.request(n) for n in range(start, start + count)]
