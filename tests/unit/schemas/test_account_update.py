"""account_update: every documented event, unknown events, and the undocumented tracking code."""

from __future__ import annotations

import pydantic
import pytest

from schemas.account_update import AccountUpdateValue
from tests import shapes
from tests.builders import envelope, load_payload
from tests.unit.schemas.helpers import parse_value, value_of


def account_update(payload: dict[str, object]) -> AccountUpdateValue:
    return parse_value(payload, AccountUpdateValue)


def test_partner_added_names_the_waba_and_its_owner():
    update = account_update(
        shapes.account_update_partner_added(waba_id="340117293845510", business_id="57291")
    )
    assert update.event == "PARTNER_ADDED"
    assert update.waba_info is not None
    assert (update.waba_info.waba_id, update.waba_info.owner_business_id) == (
        "340117293845510",
        "57291",
    )
    assert update.waba_info.solution_id is None


def test_partner_added_for_a_solution_lists_the_partner_businesses():
    update = account_update(
        shapes.account_update_partner_added_with_solution(partner_business_id="1847")
    )
    assert update.waba_info is not None
    assert update.waba_info.solution_id == "1715120619246906"
    assert update.waba_info.solution_partner_business_ids == ["1847", "520744086200222"]


@pytest.mark.parametrize(
    ("build", "event"),
    [
        (shapes.account_update_partner_app_installed, "PARTNER_APP_INSTALLED"),
        (shapes.account_update_partner_app_uninstalled, "PARTNER_APP_UNINSTALLED"),
    ],
)
def test_app_install_events_name_the_partner_app(build, event: str):
    update = account_update(build())
    assert update.event == event
    assert update.waba_info is not None
    assert update.waba_info.partner_app_id == "903847561203948"


def test_partner_removed_of_a_coexistence_number_says_why():
    update = account_update(shapes.account_update_partner_removed_disconnected(waba_id="3401"))
    assert update.event == "PARTNER_REMOVED"
    assert update.waba_info is not None
    assert update.waba_info.waba_id == "3401"
    assert update.disconnection_info is not None
    assert (update.disconnection_info.reason, update.disconnection_info.initiated_by) == (
        "PRIMARY_INACTIVITY",
        "SYSTEM",
    )


def test_plain_partner_removed_has_no_disconnection_info():
    update = account_update(shapes.account_update_partner_removed())
    assert update.disconnection_info is None


def test_partner_events_use_the_business_portfolio_as_entry_id():
    payload = shapes.account_update_partner_removed(waba_id="3401", partner_business_id="1847")
    assert payload["entry"][0]["id"] == "1847"


def test_a_certification_result_lists_rejection_reasons():
    update = account_update(shapes.account_update_partner_client_certification(business_id="5729"))
    info = update.partner_client_certification_info
    assert info is not None
    assert (info.client_business_id, info.status) == ("5729", "REJECTED")
    assert info.rejection_reasons == ["LEGAL_NAME_NOT_FOUND_IN_DOCUMENTS"]


def test_a_violation_names_its_type():
    update = account_update(shapes.account_update_account_violation())
    assert update.violation_info is not None
    assert update.violation_info.violation_type == "SCAM"


def test_a_ban_keeps_its_state_and_display_date():
    update = account_update(shapes.account_update_disabled())
    assert update.ban_info is not None
    assert (update.ban_info.waba_ban_state, update.ban_info.waba_ban_date) == (
        "SCHEDULE_FOR_DISABLE",
        "April 17, 2025",
    )


def test_restrictions_have_integer_expirations():
    update = account_update(shapes.account_update_restriction(timestamp=1768471200))
    assert [(r.restriction_type, r.expiration) for r in update.restriction_info] == [
        ("RESTRICTED_BIZ_INITIATED_MESSAGING", 1768471200),
        ("RESTRICTED_ADD_PHONE_NUMBER_ACTION", 1768474800),
    ]
    assert update.restriction_info[1].remediation == "Review the commerce policy"


@pytest.mark.parametrize(
    ("build", "event"),
    [
        (shapes.account_update_deleted, "ACCOUNT_DELETED"),
        (shapes.account_update_offboarded, "ACCOUNT_OFFBOARDED"),
        (shapes.account_update_reconnected, "ACCOUNT_RECONNECTED"),
    ],
)
def test_bare_events_carry_only_the_event(build, event: str):
    update = account_update(build())
    assert update.event == event
    assert (update.waba_info, update.restriction_info, update.model_extra) == (None, [], {})


def test_an_ad_account_link_names_the_ad_account():
    update = account_update(shapes.account_update_ad_account_linked())
    assert update.waba_info is not None
    assert update.waba_info.ad_account_linked == "980198427534243"


def test_mm_lite_terms_signed_names_the_waba():
    update = account_update(shapes.account_update_mm_lite_terms_signed(waba_id="9801"))
    assert update.event == "MM_LITE_TERMS_SIGNED"
    assert update.waba_info is not None
    assert update.waba_info.waba_id == "9801"


def test_international_auth_eligibility_lists_exception_countries():
    update = account_update(shapes.account_update_auth_intl_price_eligibility(timestamp=1768471200))
    eligibility = update.auth_international_rate_eligibility
    assert eligibility is not None
    assert eligibility.start_time == 1768471200
    assert [(c.country_code, c.start_time) for c in eligibility.exception_countries] == [
        ("ID", 1768557600)
    ]


def test_a_primary_location_update_names_the_country():
    assert account_update(shapes.account_update_primary_location_country()).country == "IN"


def test_a_volume_tier_update_keeps_tier_and_month():
    update = account_update(shapes.account_update_volume_tier(timestamp=1768471200))
    tier = update.volume_tier_info
    assert tier is not None
    assert (tier.tier, tier.effective_month, tier.tier_update_time) == (
        "25000001:50000000",
        "2026-02",
        1768471200,
    )


def test_the_legacy_verified_account_event_keeps_the_phone_number():
    update = account_update(shapes.account_update_verified_account())
    assert (update.event, update.phone_number) == ("VERIFIED_ACCOUNT", shapes.DISPLAY_PHONE_NUMBER)


def test_an_unknown_event_parses_with_its_string_and_extra_keys():
    update = account_update(shapes.account_update_unknown_event())
    assert update.event == "ACCOUNT_TELEPORTED"
    assert update.model_extra == {"teleport_info": {"destination": "moon"}}


def test_the_captured_partner_added_sample_parses():
    update = account_update(load_payload("account_update_partner_added"))
    assert update.waba_info is not None
    assert update.waba_info.waba_id == "340117293845510"


def test_there_is_no_tracking_code_in_documented_payloads():
    assert account_update(shapes.account_update_partner_added()).tracking_code is None


@pytest.mark.parametrize(
    "extra",
    [
        {"sessionInfo": {"trackingCode": "onb-42"}},
        {"session_info": {"tracking_code": "onb-42"}},
        {"tracking_code": "onb-42"},
    ],
)
def test_a_tracking_code_is_read_wherever_it_might_appear(extra: dict[str, object]):
    payload = shapes.account_update_partner_added()
    value_of(payload).update(extra)
    assert account_update(payload).tracking_code == "onb-42"


@pytest.mark.parametrize(
    "extra",
    [
        {"sessionInfo": "onb-42"},
        {"sessionInfo": {"trackingCode": ""}},
        {"tracking_code": None},
        {"tracking_code": ["x"]},
    ],
)
def test_a_malformed_tracking_code_is_ignored(extra: dict[str, object]):
    payload = shapes.account_update_partner_added()
    value_of(payload).update(extra)
    assert account_update(payload).tracking_code is None


def test_a_numeric_tracking_code_is_kept_as_text():
    payload = shapes.account_update_partner_added()
    value_of(payload)["tracking_code"] = 42
    assert account_update(payload).tracking_code == "42"


@pytest.mark.parametrize(
    "value",
    [
        {"waba_info": {"waba_id": "1"}},
        {"event": None},
        {"event": "PARTNER_ADDED", "waba_info": {"owner_business_id": "1"}},
        {"event": "PARTNER_ADDED", "waba_info": "340117293845510"},
        {"event": "ACCOUNT_RESTRICTION", "restriction_info": [{"expiration": "tomorrow"}]},
    ],
    ids=[
        "without-event",
        "null-event",
        "waba-info-without-waba-id",
        "waba-info-not-object",
        "bad-expiration",
    ],
)
def test_an_account_update_that_breaks_the_schema_is_rejected(value: dict[str, object]):
    with pytest.raises(pydantic.ValidationError):
        account_update(envelope(("account_update", value)))
