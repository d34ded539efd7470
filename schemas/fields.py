"""Which schema parses the ``value`` of each subscription field (``changes[].field``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from schemas.account_update import AccountUpdateValue
from schemas.coexistence import HistoryValue, SmbAppStateSyncValue, SmbMessageEchoesValue
from schemas.messages import MessagesValue
from schemas.waba import (
    AccountAlerts,
    AccountReviewUpdate,
    BusinessCapabilityUpdate,
    BusinessUsernameUpdate,
    PartnerSolutions,
    PhoneNumberNameUpdate,
    PhoneNumberQualityUpdate,
    SecurityUpdate,
    TemplateCategoryUpdate,
    TemplateComponentsUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UserPreferences,
)
from schemas.wire import WireModel

FIELD_MODELS: Mapping[str, type[WireModel]] = MappingProxyType(
    {
        "messages": MessagesValue,
        "account_update": AccountUpdateValue,
        "smb_message_echoes": SmbMessageEchoesValue,
        "smb_app_state_sync": SmbAppStateSyncValue,
        "history": HistoryValue,
        "message_template_status_update": TemplateStatusUpdate,
        "message_template_quality_update": TemplateQualityUpdate,
        "message_template_components_update": TemplateComponentsUpdate,
        "template_category_update": TemplateCategoryUpdate,
        "phone_number_quality_update": PhoneNumberQualityUpdate,
        "phone_number_name_update": PhoneNumberNameUpdate,
        "account_review_update": AccountReviewUpdate,
        "account_alerts": AccountAlerts,
        "business_capability_update": BusinessCapabilityUpdate,
        "security": SecurityUpdate,
        "user_preferences": UserPreferences,
        "partner_solutions": PartnerSolutions,
        "business_username_update": BusinessUsernameUpdate,
    }
)


def parse_change_value(field: str, value: Mapping[str, Any]) -> WireModel | None:
    """The parsed ``value`` of a change, or None for a field we have no schema for.

    Raises:
        pydantic.ValidationError: the field is known and ``value`` breaks its schema.
    """
    model = FIELD_MODELS.get(field)
    if model is None:
        return None
    return model.model_validate(value)
