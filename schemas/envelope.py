"""The outer shape of every WhatsApp Business Account webhook (Meta's wire format).

``{"object": "whatsapp_business_account", "entry": [{"id", "time"?, "changes": [{"field",
"value"}]}]}``. Unknown keys are kept out of the model but tolerated: Meta adds fields
without notice. ``value`` stays a plain mapping here; each field has its own schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.wire import Timestamp, WireId

WHATSAPP_OBJECT = "whatsapp_business_account"


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Change(_Wire):
    field: str = Field(min_length=1)
    value: dict[str, Any]


class Entry(_Wire):
    # The WABA id for most fields; a business portfolio id for PARTNER_* account updates.
    # A number is accepted and kept as its digits.
    id: WireId
    time: Timestamp | None = None
    changes: list[Change]


class WebhookEnvelope(_Wire):
    object: Literal["whatsapp_business_account"]
    entry: list[Entry] = Field(min_length=1)
