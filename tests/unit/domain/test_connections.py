"""Account events and the connection state machine (fakes only)."""

from __future__ import annotations

import itertools

import pytest

from domain.connections import apply_account_event, status_effect
from domain.messages import record_message
from domain.ports import Connection
from tests.commands import WABA, account_event, at, inbound
from tests.fakes import FakeConnectionRepo, FakeUnitOfWork

OWNER = "572910384657120"


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


def test_partner_added_for_an_unknown_business_leaves_an_orphan(uow: FakeUnitOfWork):
    outcome = apply_account_event(account_event("PARTNER_ADDED"), uow)

    connection = uow.connections.rows[WABA]
    assert (connection.organization_id, connection.status) == (None, "orphan")
    assert connection.owner_business_id == OWNER
    assert outcome.orphan
    assert outcome.known


def test_partner_added_with_a_tracking_code_is_attributed_through_it(uow: FakeUnitOfWork):
    uow.onboardings.by_code["trk-1"] = "org-t"

    apply_account_event(account_event("PARTNER_ADDED", tracking_code="trk-1"), uow)

    assert uow.connections.rows[WABA].organization_id == "org-t"
    assert uow.connections.rows[WABA].status == "active"


def test_unknown_tracking_code_falls_back_to_the_next_rule(uow: FakeUnitOfWork):
    uow.onboardings.by_waba[WABA] = "org-s"

    apply_account_event(account_event("PARTNER_ADDED", tracking_code="nope"), uow)

    assert uow.connections.rows[WABA].organization_id == "org-s"


def test_tracking_code_comes_before_the_session_and_the_business(uow: FakeUnitOfWork):
    uow.onboardings.by_code["trk-2"] = "org-t"
    uow.onboardings.by_waba[WABA] = "org-s"
    uow.connect("other-waba", "org-b", owner_business_id=OWNER)

    apply_account_event(account_event("PARTNER_ADDED", tracking_code="trk-2"), uow)

    assert uow.connections.rows[WABA].organization_id == "org-t"


def test_session_comes_before_the_business_portfolio(uow: FakeUnitOfWork):
    uow.onboardings.by_waba[WABA] = "org-s"
    uow.connect("other-waba", "org-b", owner_business_id=OWNER)

    apply_account_event(account_event("PARTNER_ADDED"), uow)

    assert uow.connections.rows[WABA].organization_id == "org-s"


def test_partner_added_joins_an_attached_connection_of_the_same_business(uow: FakeUnitOfWork):
    uow.connect("other-waba", "org-b", owner_business_id=OWNER)

    apply_account_event(account_event("PARTNER_ADDED"), uow)

    assert uow.connections.rows[WABA].organization_id == "org-b"


def test_partner_added_on_an_orphan_attaches_it_once_resolvable(uow: FakeUnitOfWork):
    apply_account_event(account_event("PARTNER_ADDED", occurred_at=at(1)), uow)
    uow.onboardings.by_waba[WABA] = "org-s"

    apply_account_event(account_event("PARTNER_APP_INSTALLED", occurred_at=at(2)), uow)

    connection = uow.connections.rows[WABA]
    assert (connection.organization_id, connection.status) == ("org-s", "active")


def test_organization_once_set_is_never_replaced_by_an_event(uow: FakeUnitOfWork):
    uow.connect(WABA, "org-a", owner_business_id=OWNER)
    uow.onboardings.by_waba[WABA] = "org-z"

    apply_account_event(account_event("PARTNER_ADDED", occurred_at=at(5)), uow)

    assert uow.connections.rows[WABA].organization_id == "org-a"


@pytest.mark.parametrize(
    ("event", "details", "status"),
    [
        ("PARTNER_REMOVED", {}, "disconnected"),
        ("PARTNER_APP_UNINSTALLED", {}, "disconnected"),
        ("ACCOUNT_OFFBOARDED", {}, "disconnected"),
        ("ACCOUNT_DELETED", {}, "deleted"),
        ("DISABLED_UPDATE", {"ban_info": {"waba_ban_state": "DISABLE"}}, "banned"),
        ("DISABLED_UPDATE", {"ban_info": {"waba_ban_state": "REINSTATE"}}, "active"),
        ("ACCOUNT_RESTRICTION", {"restriction_info": [{"restriction_type": "X"}]}, "restricted"),
        ("ACCOUNT_RESTRICTION", {"restriction_info": []}, "active"),
        ("ACCOUNT_RECONNECTED", {}, "active"),
    ],
)
def test_account_events_move_the_connection_status(uow, event, details, status):
    uow.connect(WABA, "org-a")

    outcome = apply_account_event(account_event(event, details=details, occurred_at=at(9)), uow)

    assert uow.connections.rows[WABA].status == status
    assert outcome.status_changed is (status != "active")


@pytest.mark.parametrize(
    "event", ["ACCOUNT_VIOLATION", "VERIFIED_ACCOUNT", "MM_LITE_TERMS_SIGNED", "SOMETHING_NEW"]
)
def test_events_that_say_nothing_of_the_status_are_only_recorded(uow, event):
    uow.connect(WABA, "org-a")
    command = account_event(event, details={"violation_info": {"violation_type": "SPAM"}})

    outcome = apply_account_event(command, uow)

    assert uow.connections.rows[WABA].status == "active"
    assert uow.accounts.history[command.source].kind == event
    assert outcome.known is (event != "SOMETHING_NEW")


def test_violation_is_kept_as_the_wabas_latest_violation(uow: FakeUnitOfWork):
    details = {"violation_info": {"violation_type": "ADULT"}}

    apply_account_event(account_event("ACCOUNT_VIOLATION", details=details), uow)

    assert uow.accounts.state[(WABA, "waba", "violation")].value == details


def test_event_for_a_waba_without_connection_is_recorded_not_created(uow: FakeUnitOfWork):
    command = account_event("ACCOUNT_VIOLATION")

    apply_account_event(command, uow)

    assert WABA not in uow.connections.rows
    assert command.source in uow.accounts.history


def test_removal_of_an_unknown_waba_creates_it_disconnected(uow: FakeUnitOfWork):
    reason = "PRIMARY_INACTIVITY"
    apply_account_event(account_event("PARTNER_REMOVED", reason=reason), uow)

    connection = uow.connections.rows[WABA]
    assert (connection.status, connection.status_reason, connection.organization_id) == (
        "disconnected",
        reason,
        None,
    )


def test_an_older_event_arriving_late_changes_only_the_history(uow: FakeUnitOfWork):
    uow.connect(WABA, "org-a")
    apply_account_event(account_event("PARTNER_REMOVED", occurred_at=at(20)), uow)
    late = account_event("PARTNER_ADDED", occurred_at=at(10))

    apply_account_event(late, uow)

    assert uow.connections.rows[WABA].status == "disconnected"
    assert late.source in uow.accounts.history


def test_duplicate_event_changes_nothing(uow: FakeUnitOfWork):
    command = account_event("PARTNER_ADDED")
    apply_account_event(command, uow)
    before = uow.snapshot()

    apply_account_event(command, uow)

    assert uow.snapshot() == before


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["PARTNER_ADDED", "PARTNER_REMOVED", "RECONNECTED"]))
)
def test_any_arrival_order_ends_in_the_state_of_the_latest_event(order):
    uow = FakeUnitOfWork()
    uow.connect("sibling", "org-b", owner_business_id=OWNER)
    events = {
        "PARTNER_ADDED": account_event("PARTNER_ADDED", occurred_at=at(1), source="a"),
        "PARTNER_REMOVED": account_event(
            "PARTNER_REMOVED", occurred_at=at(2), source="b", reason="CHANGE_NUMBER"
        ),
        "RECONNECTED": account_event("ACCOUNT_RECONNECTED", occurred_at=at(3), source="c"),
    }
    for name in order:
        apply_account_event(events[name], uow)

    connection = uow.connections.rows[WABA]
    assert (connection.organization_id, connection.status, connection.status_source) == (
        "org-b",
        "active",
        "c",
    )


class RacingConnectionRepo(FakeConnectionRepo):
    """Another worker creates the connection between our read and our insert, once."""

    def __init__(self, winner: Connection) -> None:
        super().__init__()
        self.winner: Connection | None = winner

    def insert(self, connection: Connection) -> bool:
        if self.winner is not None:
            self.rows[self.winner.waba_id], self.winner = self.winner, None
        return super().insert(connection)


def test_an_event_whose_insert_lost_the_race_applies_to_the_winners_row():
    other = FakeUnitOfWork().connect(WABA, "org-r")
    uow = FakeUnitOfWork(connections=RacingConnectionRepo(other))

    apply_account_event(account_event("PARTNER_REMOVED", occurred_at=at(5)), uow)

    connection = uow.connections.rows[WABA]
    assert (connection.organization_id, connection.status) == ("org-r", "disconnected")


def test_unknown_ban_state_says_nothing():
    assert status_effect("DISABLED_UPDATE", {"ban_info": {"waba_ban_state": "X"}}) is None
    assert status_effect("DISABLED_UPDATE", {}) is None


def test_messages_stored_before_the_waba_was_attached_become_its_organizations():
    uow = FakeUnitOfWork()
    uow.connect("sibling", "org-b", owner_business_id=OWNER)
    record_message(inbound(wamid="wamid.EARLY"), uow)
    assert uow.messages.rows["wamid.EARLY"].stored.organization_id is None

    apply_account_event(account_event("PARTNER_ADDED"), uow)

    assert uow.messages.rows["wamid.EARLY"].stored.organization_id == "org-b"


def test_attaching_an_orphan_later_attributes_its_messages(uow: FakeUnitOfWork):
    apply_account_event(account_event("PARTNER_ADDED", occurred_at=at(1)), uow)
    record_message(inbound(wamid="wamid.ORPHAN"), uow)
    uow.onboardings.by_waba[WABA] = "org-s"

    apply_account_event(account_event("PARTNER_APP_INSTALLED", occurred_at=at(2)), uow)

    assert uow.messages.rows["wamid.ORPHAN"].stored.organization_id == "org-s"
