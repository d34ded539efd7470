"""The other WABA fields: templates, phone numbers, reviews, alerts, security, preferences."""

from __future__ import annotations

import pydantic
import pytest

from schemas import waba
from schemas.fields import FIELD_MODELS
from tests import shapes
from tests.builders import envelope, load_payload
from tests.unit.schemas.helpers import parse_value


def test_a_template_rejection_keeps_its_id_as_text_and_the_reason():
    payload = shapes.message_template_status_update(template_id="1093847561029384")
    update = parse_value(payload, waba.TemplateStatusUpdate)
    assert update.event == "REJECTED"
    assert update.message_template_id == "1093847561029384"
    assert (update.message_template_name, update.message_template_language) == (
        "restock_alert_v2",
        "es_AR",
    )
    assert (update.reason, update.message_template_category) == ("INVALID_FORMAT", "MARKETING")
    assert update.rejection_info is not None
    assert update.rejection_info.recommendation == "Add words between {{1}} and {{2}}."
    assert isinstance(payload["entry"][0]["time"], int)


def test_a_disabled_template_has_a_null_reason_and_disable_info():
    update = parse_value(shapes.message_template_status_disabled(), waba.TemplateStatusUpdate)
    assert (update.event, update.reason) == ("DISABLED", None)
    assert update.disable_info is not None
    assert update.disable_info.disable_date == "January 20, 2026"
    assert update.other_info is not None
    assert update.other_info.title == "Template disabled"


def test_an_unknown_template_event_is_kept():
    update = parse_value(
        shapes.message_template_status_update(event="SUNSETTING"), waba.TemplateStatusUpdate
    )
    assert update.event == "SUNSETTING"


def test_a_template_quality_change_keeps_both_scores():
    update = parse_value(shapes.message_template_quality_update(), waba.TemplateQualityUpdate)
    assert (update.previous_quality_score, update.new_quality_score) == ("GREEN", "YELLOW")


def test_a_template_components_update_keeps_text_and_buttons():
    update = parse_value(shapes.message_template_components_update(), waba.TemplateComponentsUpdate)
    assert update.message_template_element == "Hi {{1}}, the {{2}} is back."
    assert [b.message_template_button_url for b in update.message_template_buttons] == [
        "https://shop.example.com"
    ]


def test_a_template_category_change_and_an_impending_one_parse():
    done = parse_value(shapes.template_category_update(), waba.TemplateCategoryUpdate)
    soon = parse_value(
        shapes.template_category_update_impending(timestamp=1768471200), waba.TemplateCategoryUpdate
    )
    assert (done.previous_category, done.new_category) == ("UTILITY", "MARKETING")
    assert (soon.correct_category, soon.category_update_timestamp) == ("MARKETING", 1768557600)


def test_a_phone_number_quality_update_keeps_the_tier():
    update = parse_value(shapes.phone_number_quality_update(), waba.PhoneNumberQualityUpdate)
    assert (update.event, update.max_daily_conversations_per_business) == (
        "THROUGHPUT_UPGRADE",
        "TIER_10K",
    )
    legacy = parse_value(shapes.phone_number_quality_update_legacy(), waba.PhoneNumberQualityUpdate)
    assert (legacy.current_limit, legacy.old_limit) == ("TIER_1K", "TIER_250")


def test_a_name_review_keeps_decision_and_reason():
    update = parse_value(shapes.phone_number_name_update(), waba.PhoneNumberNameUpdate)
    assert (update.decision, update.requested_verified_name, update.rejection_reason) == (
        "REJECTED",
        "Acme Jackets",
        "NAME_FORMAT_UNACCEPTABLE",
    )


def test_an_account_review_keeps_its_decision():
    assert (
        parse_value(shapes.account_review_update(), waba.AccountReviewUpdate).decision == "APPROVED"
    )


def test_an_alert_names_its_entity_and_type():
    update = parse_value(shapes.account_alerts(phone_number_id="4182"), waba.AccountAlerts)
    assert (update.entity_type, update.entity_id) == ("PHONE_NUMBER", "4182")
    assert update.alert_info is not None
    assert (update.alert_info.alert_severity, update.alert_info.alert_type) == (
        "WARNING",
        "PROFILE_PICTURE_LOST",
    )


def test_capability_limits_are_tiers_or_numbers():
    update = parse_value(shapes.business_capability_update(), waba.BusinessCapabilityUpdate)
    assert update.max_daily_conversations_per_business == "TIER_100K"
    assert (update.max_phone_numbers_per_business, update.max_daily_conversation_per_phone) == (
        20,
        1000,
    )


def test_a_security_notice_names_the_event_and_requester():
    update = parse_value(shapes.security(timestamp=1768477900), waba.SecurityUpdate)
    assert (update.event, update.requester) == ("PIN_RESET_REQUEST", "615551768477900")


def test_a_marketing_opt_out_names_the_user_and_value():
    update = parse_value(
        shapes.user_preferences(wa_id="1650", user_id="US.5", timestamp=1731705721),
        waba.UserPreferences,
    )
    assert update.metadata is not None
    (preference,) = update.user_preferences
    assert (preference.wa_id, preference.user_id, preference.value) == ("1650", "US.5", "stop")
    assert (preference.category, preference.timestamp) == ("marketing_messages", 1731705721)
    assert [c.wa_id for c in update.contacts] == ["1650"]


def test_a_partner_solution_event_uses_the_portfolio_as_entry_id():
    payload = shapes.partner_solutions(partner_business_id="1847")
    update = parse_value(payload, waba.PartnerSolutions)
    assert payload["entry"][0]["id"] == "1847"
    assert (update.event, update.solution_id, update.solution_status) == (
        "SOLUTION_CREATED",
        "1715120619246906",
        "INITIATED",
    )


def test_a_business_username_update_keeps_username_and_status():
    update = parse_value(shapes.business_username_update(), waba.BusinessUsernameUpdate)
    assert (update.username, update.status) == ("@acmejackets", "approved")


def test_the_captured_security_and_quality_samples_parse():
    assert parse_value(load_payload("security"), waba.SecurityUpdate).requester == "61555829300174"
    quality = parse_value(
        load_payload("phone_number_quality_update"), waba.PhoneNumberQualityUpdate
    )
    assert quality.max_daily_conversations_per_business == "TIER_10K"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message_template_status_update", {"message_template_id": 1}),
        ("message_template_status_update", {"event": "APPROVED", "message_template_id": 1.5}),
        ("account_review_update", {}),
        ("template_category_update", {"category_update_timestamp": "next week"}),
        ("business_capability_update", {"max_phone_numbers_per_business": [20]}),
        ("user_preferences", {"user_preferences": {"value": "stop"}}),
        ("account_alerts", {"alert_info": "CRITICAL"}),
    ],
    ids=[
        "template-without-event",
        "template-id-a-float",
        "review-without-decision",
        "category-timestamp-not-digits",
        "limit-a-list",
        "preferences-not-a-list",
        "alert-info-not-an-object",
    ],
)
def test_a_waba_value_that_breaks_the_schema_is_rejected(field: str, value: dict[str, object]):
    with pytest.raises(pydantic.ValidationError):
        parse_value(envelope((field, value)), FIELD_MODELS[field])
