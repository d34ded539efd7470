"""Values of the other WABA fields: template, phone number, review, alert and security notices.

One model per field. The values are flat (no ``metadata`` except ``user_preferences``);
``entry.id`` is the WABA (a business portfolio for ``partner_solutions``). Events, decisions and
tiers are plain strings so new values parse.
"""

from __future__ import annotations

from pydantic import Field

from schemas.messages import Contact, Metadata
from schemas.wire import Timestamp, WireId, WireModel

# Messaging limits are "TIER_10K"-style strings; some of Meta's examples show ints.
Limit = str | int


class DisableInfo(WireModel):
    disable_date: str | int | None = None


class OtherInfo(WireModel):
    title: str | None = None
    description: str | None = None


class RejectionInfo(WireModel):
    reason: str | None = None
    recommendation: str | None = None


class TemplateStatusUpdate(WireModel):
    """``message_template_status_update``: a template was approved, rejected, paused, …"""

    event: str
    message_template_id: WireId | None = None
    message_template_name: str | None = None
    message_template_language: str | None = None
    reason: str | None = None
    message_template_category: str | None = None
    disable_info: DisableInfo | None = None
    other_info: OtherInfo | None = None
    rejection_info: RejectionInfo | None = None


class TemplateQualityUpdate(WireModel):
    """``message_template_quality_update``."""

    previous_quality_score: str | None = None
    new_quality_score: str | None = None
    message_template_id: WireId | None = None
    message_template_name: str | None = None
    message_template_language: str | None = None


class TemplateButton(WireModel):
    message_template_button_type: str | None = None
    message_template_button_text: str | None = None
    message_template_button_url: str | None = None
    message_template_button_phone_number: str | None = None


class TemplateComponentsUpdate(WireModel):
    """``message_template_components_update``: the template's text after an edit."""

    message_template_id: WireId | None = None
    message_template_name: str | None = None
    message_template_language: str | None = None
    message_template_title: str | None = None
    message_template_element: str | None = None
    message_template_footer: str | None = None
    message_template_buttons: list[TemplateButton] = Field(default_factory=list)


class TemplateCategoryUpdate(WireModel):
    """``template_category_update``: a category changed, or will (``correct_category``)."""

    message_template_id: WireId | None = None
    message_template_name: str | None = None
    message_template_language: str | None = None
    new_category: str | None = None
    previous_category: str | None = None
    correct_category: str | None = None
    category_update_timestamp: Timestamp | None = None


class PhoneNumberQualityUpdate(WireModel):
    """``phone_number_quality_update``: the number's messaging limit moved."""

    display_phone_number: str | None = None
    event: str | None = None
    # Being removed by Meta in favour of max_daily_conversations_per_business.
    current_limit: Limit | None = None
    old_limit: Limit | None = None
    max_daily_conversations_per_business: Limit | None = None


class PhoneNumberNameUpdate(WireModel):
    """``phone_number_name_update``: the display-name review result."""

    display_phone_number: str | None = None
    decision: str | None = None
    requested_verified_name: str | None = None
    # A reason code, or null when approved.
    rejection_reason: str | None = None


class AccountReviewUpdate(WireModel):
    """``account_review_update``: the WABA's review result."""

    decision: str


class AlertInfo(WireModel):
    alert_severity: str | None = None
    alert_status: str | None = None
    alert_type: str | None = None
    alert_description: str | None = None


class AccountAlerts(WireModel):
    """``account_alerts``: an alert on the business, a number or a status."""

    entity_type: str | None = None
    entity_id: WireId | None = None
    alert_info: AlertInfo | None = None


class BusinessCapabilityUpdate(WireModel):
    """``business_capability_update``: new messaging or phone-number limits."""

    max_daily_conversations_per_business: Limit | None = None
    max_phone_numbers_per_waba: Limit | None = None
    max_phone_numbers_per_business: Limit | None = None
    # Being removed by Meta.
    max_daily_conversation_per_phone: Limit | None = None


class SecurityUpdate(WireModel):
    """``security``: the two-step-verification PIN changed or was requested."""

    display_phone_number: str | None = None
    event: str | None = None
    requester: WireId | None = None


class UserPreference(WireModel):
    wa_id: WireId | None = None
    user_id: str | None = None
    detail: str | None = None
    category: str | None = None
    # "stop" / "resume" for marketing messages.
    value: str | None = None
    timestamp: Timestamp | None = None


class UserPreferences(WireModel):
    """``user_preferences``: a user stopped or resumed marketing messages."""

    messaging_product: str | None = None
    metadata: Metadata | None = None
    contacts: list[Contact] = Field(default_factory=list)
    user_preferences: list[UserPreference] = Field(default_factory=list)


class PartnerSolutions(WireModel):
    """``partner_solutions``: a multi-partner solution was created or changed."""

    event: str | None = None
    solution_id: WireId | None = None
    solution_status: str | None = None


class BusinessUsernameUpdate(WireModel):
    """``business_username_update``: the business username was approved, reserved or deleted."""

    display_phone_number: str | None = None
    username: str | None = None
    status: str | None = None
