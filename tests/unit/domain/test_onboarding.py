"""The onboarding completion job as a step machine, on fakes (SPEC §7.4, §16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.connections import apply_account_event, claim_orphan
from domain.errors import (
    ConnectionNotFound,
    GraphErrorInfo,
    GraphRejected,
    GraphUnavailable,
    TokenUndecryptable,
    WabaClaimedElsewhere,
)
from domain.graph import AccessToken, GraphPhoneNumber, TokenInfo
from domain.onboarding import (
    COEXISTENCE_EVENT,
    OnboardingSettings,
    activate_selected_phone,
    complete_onboarding,
)
from domain.ports import Onboarding
from domain.token_health import TokenStatus
from tests.commands import account_event
from tests.fakes import FakeGraphApi, FakeUnitOfWork, transaction_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WABA = "340117293845510"
CODE = "trk-1"
SETTINGS = OnboardingSettings(warn_days=30, critical_days=7, register_pin="123456")


def session(uow: FakeUnitOfWork, *, event: str = "FINISH", code: str = CODE) -> None:
    """An onboarding whose session was posted: code exchanged, token stored."""
    uow.onboardings.rows[code] = Onboarding(
        tracking_code=code,
        organization_id="org-a",
        status="session_received",
        waba_id=WABA,
        business_id="572910384657120",
        phone_number_id=None,
        signup_event=event,
        step=None,
        expires_at=NOW + timedelta(hours=24),
    )
    uow.tokens.tokens[WABA] = AccessToken("EAAG-secret-business-token")


def numbers(*ids: str, coexistence: bool = False) -> list[GraphPhoneNumber]:
    return [
        GraphPhoneNumber(i, display_phone_number=f"+1555{i}", is_on_biz_app=coexistence)
        for i in ids
    ]


def run(uow: FakeUnitOfWork, graph: FakeGraphApi, settings: OnboardingSettings = SETTINGS):
    return complete_onboarding(
        CODE, transaction=transaction_of(uow), graph=graph, now=lambda: NOW, settings=settings
    )


@pytest.fixture
def uow() -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    session(fake)
    return fake


@pytest.fixture
def graph() -> FakeGraphApi:
    fake = FakeGraphApi()
    fake.phones[WABA] = numbers("1001")
    return fake


def test_a_one_number_onboarding_completes_with_the_number_connected_and_registered(
    uow: FakeUnitOfWork, graph: FakeGraphApi
):
    result = run(uow, graph)

    assert result.step == "completed"
    assert uow.onboardings.rows[CODE].status == "completed"
    assert uow.onboardings.completed_at[CODE] == NOW
    connection = uow.connections.rows[WABA]
    assert (connection.organization_id, connection.status) == ("org-a", "active")
    assert connection.owner_business_id == "572910384657120"
    assert uow.phone_numbers.get("1001").status == "connected"  # type: ignore[union-attr]
    assert graph.called("subscribe_app") == [("subscribe_app", WABA)]
    assert graph.called("register_phone") == [("register_phone", "1001", "123456")]
    assert uow.tokens.health[WABA].status is TokenStatus.VALID


def test_without_a_pin_no_number_is_registered(uow: FakeUnitOfWork, graph: FakeGraphApi):
    run(uow, graph, OnboardingSettings(warn_days=30, critical_days=7, register_pin=None))

    assert graph.called("register_phone") == []
    assert uow.onboardings.rows[CODE].status == "completed"


def test_several_numbers_await_the_saas_choice_and_the_onboarding_completes(
    uow: FakeUnitOfWork, graph: FakeGraphApi
):
    graph.phones[WABA] = numbers("1001", "1002")

    run(uow, graph)

    assert uow.connections.rows[WABA].status == "awaiting_phone_selection"
    assert {p.status for p in uow.phone_numbers.list_for_waba(WABA)} == {"pending"}
    assert graph.called("register_phone") == []
    assert uow.onboardings.rows[CODE].status == "completed"


def test_the_chosen_number_is_activated_by_its_own_job(uow: FakeUnitOfWork, graph: FakeGraphApi):
    graph.phones[WABA] = numbers("1001", "1002")
    run(uow, graph)

    activate_selected_phone(
        WABA, "1002", transaction=transaction_of(uow), graph=graph, settings=SETTINGS
    )

    assert graph.called("register_phone") == [("register_phone", "1002", "123456")]


def test_a_number_of_another_waba_cannot_be_activated(uow: FakeUnitOfWork, graph: FakeGraphApi):
    run(uow, graph)

    with pytest.raises(LookupError):
        activate_selected_phone(
            "other-waba", "1001", transaction=transaction_of(uow), graph=graph, settings=SETTINGS
        )


def test_a_coexistence_number_is_synced_both_ways_and_never_registered(graph: FakeGraphApi):
    uow = FakeUnitOfWork()
    session(uow, event=COEXISTENCE_EVENT)

    run(uow, graph)

    assert graph.called("register_phone") == []
    assert graph.called("request_sync") == [
        ("request_sync", "1001", "smb_app_state_sync"),
        ("request_sync", "1001", "history"),
    ]


def test_graph_saying_the_number_is_on_the_business_app_means_coexistence(
    uow: FakeUnitOfWork, graph: FakeGraphApi
):
    graph.phones[WABA] = numbers("1001", coexistence=True)

    run(uow, graph)

    assert graph.called("register_phone") == []
    assert len(graph.called("request_sync")) == 2


def test_a_token_without_the_whatsapp_scopes_stops_at_once_and_asks_to_reconnect(
    uow: FakeUnitOfWork,
):
    graph = FakeGraphApi(
        TokenInfo(is_valid=True, expires_at=None, scopes=frozenset({"business_management"}))
    )

    result = run(uow, graph)

    assert result.step == "scopes_checked"
    assert "whatsapp_business_messaging" in (result.stopped or "")
    assert graph.called("subscribe_app") == []
    assert uow.onboardings.rows[CODE].status == "session_received"
    assert uow.onboardings.errors[CODE] == result.stopped
    assert uow.connections.rows[WABA].reconnect_reason == result.stopped
    assert uow.tokens.health[WABA].status is TokenStatus.INVALID


def test_an_expiring_token_completes_but_flags_critical(uow: FakeUnitOfWork):
    graph = FakeGraphApi(
        TokenInfo(
            is_valid=True,
            expires_at=NOW + timedelta(days=3),
            scopes=frozenset({"whatsapp_business_management", "whatsapp_business_messaging"}),
        )
    )
    graph.phones[WABA] = numbers("1001")

    run(uow, graph)

    assert uow.onboardings.rows[CODE].status == "completed"
    assert uow.tokens.health[WABA].status is TokenStatus.CRITICAL
    assert uow.connections.rows[WABA].reconnect_reason


def test_a_retry_resumes_at_the_failed_step_without_repeating_the_others(
    uow: FakeUnitOfWork, graph: FakeGraphApi
):
    graph.fail_next("list_phone_numbers", GraphUnavailable("graph: 503"))

    with pytest.raises(GraphUnavailable):
        run(uow, graph)
    assert uow.onboardings.rows[CODE].step == "subscribed"
    run(uow, graph)

    assert graph.called("subscribe_app") == [("subscribe_app", WABA)]
    assert len(graph.called("debug_token")) == 1
    assert uow.onboardings.rows[CODE].status == "completed"


class HistorySyncFailsOnce(FakeGraphApi):
    def __init__(self) -> None:
        super().__init__()
        self.syncs: list[str] = []

    def request_sync(self, phone_number_id, token, sync_type):
        self.syncs.append(sync_type)
        if self.syncs == ["smb_app_state_sync", "history"]:
            raise GraphRejected("request_sync", GraphErrorInfo(100, None, "Invalid parameter"))
        return super().request_sync(phone_number_id, token, sync_type)


def test_a_failed_second_sync_is_retried_alone_and_the_first_never_again():
    uow = FakeUnitOfWork()
    session(uow, event=COEXISTENCE_EVENT)
    graph = HistorySyncFailsOnce()
    graph.phones[WABA] = numbers("1001")

    with pytest.raises(GraphRejected):
        run(uow, graph)
    run(uow, graph)  # the replay, once the cause is fixed

    assert graph.syncs == ["smb_app_state_sync", "history", "history"]
    assert uow.onboardings.rows[CODE].status == "completed"


def test_an_undecryptable_token_stops_the_job_and_asks_to_reconnect(
    uow: FakeUnitOfWork, graph: FakeGraphApi
):
    uow.tokens.undecryptable.add(WABA)

    result = run(uow, graph)

    assert result.stopped
    assert uow.tokens.health[WABA].status is TokenStatus.UNDECRYPTABLE
    assert graph.called("debug_token") == []


def test_partner_added_first_left_an_orphan_that_the_session_attaches(graph: FakeGraphApi):
    uow = FakeUnitOfWork()
    apply_account_event(account_event("PARTNER_ADDED", waba_id=WABA, owner_business_id="biz"), uow)
    assert uow.connections.rows[WABA].status == "orphan"
    session(uow)

    run(uow, graph)

    connection = uow.connections.rows[WABA]
    assert (connection.organization_id, connection.status) == ("org-a", "active")
    assert connection.owner_business_id == "biz"


def test_partner_added_after_the_session_joins_the_same_connection(
    uow: FakeUnitOfWork, graph: FakeGraphApi
):
    run(uow, graph)

    apply_account_event(account_event("PARTNER_ADDED", waba_id=WABA), uow)

    assert list(uow.connections.rows) == [WABA]
    assert uow.connections.rows[WABA].organization_id == "org-a"


def test_a_session_for_a_waba_of_another_organization_is_refused(
    uow: FakeUnitOfWork, graph: FakeGraphApi
):
    uow.connect(WABA, "org-other")

    with pytest.raises(WabaClaimedElsewhere):
        run(uow, graph)
    assert graph.called("subscribe_app") == []


def test_claiming_an_orphan_attaches_it_and_writes_the_audit_row():
    uow = FakeUnitOfWork()
    apply_account_event(account_event("PARTNER_ADDED", waba_id=WABA), uow)

    connection = claim_orphan(
        uow, waba_id=WABA, organization_id="org-c", actor="ak_1 (ops)", at=NOW
    )

    assert (connection.organization_id, connection.status) == ("org-c", "active")
    assert uow.audit.rows == [
        {
            "actor": "ak_1 (ops)",
            "action": "orphan.claim",
            "subject": f"connection:{WABA}",
            "details": {"organization_id": "org-c"},
        }
    ]


def test_only_an_orphan_can_be_claimed():
    uow = FakeUnitOfWork()
    uow.connect(WABA, "org-a")

    with pytest.raises(WabaClaimedElsewhere):
        claim_orphan(uow, waba_id=WABA, organization_id="org-c", actor="ops", at=NOW)
    with pytest.raises(ConnectionNotFound):
        claim_orphan(uow, waba_id="nope", organization_id="org-c", actor="ops", at=NOW)
    assert uow.audit.rows == []


def test_a_token_graph_refuses_as_invalid_is_recorded_invalid(uow: FakeUnitOfWork):
    from domain.token_checks import check_token

    graph = FakeGraphApi()
    graph.fail_next(
        "debug_token", GraphRejected("debug_token", GraphErrorInfo(190, None, "expired"))
    )

    health = check_token(
        WABA, transaction=transaction_of(uow), graph=graph, now=NOW, warn_days=30,
        critical_days=7,
    )  # fmt: skip

    assert health.status is TokenStatus.INVALID
    assert uow.tokens.health[WABA].status is TokenStatus.INVALID


def test_a_missing_token_is_a_lookup_error(graph: FakeGraphApi):
    uow = FakeUnitOfWork()
    session(uow)
    del uow.tokens.tokens[WABA]

    with pytest.raises((LookupError, TokenUndecryptable)):
        run(uow, graph)
