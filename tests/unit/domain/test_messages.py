"""Messages and statuses: attribution, customer identity, forward-only status (fakes only)."""

from __future__ import annotations

import itertools

import pytest

from domain.commands import CustomerRef, MessageContent
from domain.messages import advances, record_message, record_status
from tests.commands import PHONE, WABA, at, inbound, status
from tests.fakes import FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    fake.connect(WABA, "org-a")
    return fake


def test_inbound_message_is_attributed_through_its_wabas_connection(uow: FakeUnitOfWork):
    result = record_message(inbound(wamid="wamid.A", text="caf\u00e9"), uow)

    assert result.attributed
    stored = uow.messages.rows["wamid.A"].stored
    assert stored.organization_id == "org-a"
    assert stored.direction == "inbound"
    assert stored.content.text == "caf\u00e9"
    assert uow.phone_numbers.get(PHONE) is not None


def test_message_for_an_unknown_waba_is_stored_unattributed():
    uow = FakeUnitOfWork()

    result = record_message(inbound(wamid="wamid.B"), uow)

    assert not result.attributed
    assert uow.messages.rows["wamid.B"].stored.organization_id is None
    # The number is learnt all the same, so it is attributed once its WABA is claimed.
    phone = uow.phone_numbers.get(PHONE)
    assert phone is not None
    assert phone.waba_id == WABA


def test_known_number_is_attributed_through_its_own_waba_whatever_entry_id_says(
    uow: FakeUnitOfWork,
):
    record_message(inbound(wamid="wamid.C1"), uow)
    uow.connect("999", "org-b")

    record_message(inbound(wamid="wamid.C2", waba_id="999"), uow)

    assert uow.messages.rows["wamid.C2"].stored.organization_id == "org-a"


def test_inbound_message_moves_the_numbers_last_inbound_time_forward_only(uow: FakeUnitOfWork):
    record_message(inbound(sent_at=at(100)), uow)
    record_message(inbound(sent_at=at(50)), uow)

    assert uow.phone_numbers.rows[PHONE].last_inbound_at == at(100)


def test_customer_is_keyed_by_business_scoped_id_when_present(uow: FakeUnitOfWork):
    record_message(inbound(customer=CustomerRef(user_id="US.9", wa_id="1555")), uow)
    record_message(inbound(customer=CustomerRef(user_id="US.9")), uow)

    assert list(uow.customers.rows) == [(WABA, "bsuid:US.9")]
    assert uow.customers.rows[(WABA, "bsuid:US.9")].ref.wa_id == "1555"


def test_customer_without_business_scoped_id_is_keyed_by_phone(uow: FakeUnitOfWork):
    record_message(inbound(customer=CustomerRef(wa_id="1555", name="Ana")), uow)

    assert list(uow.customers.rows) == [(WABA, "wa:1555")]


def test_username_only_customer_is_stored(uow: FakeUnitOfWork):
    ref = CustomerRef(user_id="BR.77", username="@ana.sousa", name="Ana")

    record_message(inbound(wamid="wamid.U", customer=ref), uow)

    (row,) = uow.customers.rows.values()
    assert row.ref.wa_id is None
    assert row.ref.username == "@ana.sousa"
    assert uow.messages.rows["wamid.U"].stored.customer_id == row.id


def test_latest_profile_wins_whatever_the_arrival_order(uow: FakeUnitOfWork):
    record_message(inbound(sent_at=at(20), customer=CustomerRef(user_id="U", name="New")), uow)
    record_message(inbound(sent_at=at(10), customer=CustomerRef(user_id="U", name="Old")), uow)
    record_message(inbound(sent_at=at(30), customer=CustomerRef(user_id="U")), uow)

    assert uow.customers.rows[(WABA, "bsuid:U")].ref.name == "New"


def test_message_naming_nobody_is_stored_without_customer(uow: FakeUnitOfWork):
    record_message(inbound(wamid="wamid.N", customer=CustomerRef()), uow)

    assert uow.messages.rows["wamid.N"].stored.customer_id is None


def test_the_same_message_twice_is_stored_once(uow: FakeUnitOfWork):
    command = inbound(wamid="wamid.D")
    record_message(command, uow)
    before = uow.snapshot()

    record_message(command, uow)

    assert uow.snapshot() == before


@pytest.mark.parametrize(
    ("current", "status_name", "moves"),
    [
        (0, "sent", True),
        (1, "delivered", True),
        (2, "read", True),
        (3, "delivered", False),
        (3, "sent", False),
        (3, "failed", True),
        (9, "read", False),
        (3, "played", True),
        (1, "some_future_status", False),
    ],
)
def test_status_only_moves_forward(current: int, status_name: str, moves: bool):
    assert advances(current, status_name) is moves


@pytest.mark.parametrize("order", list(itertools.permutations(["sent", "delivered", "read"])))
def test_statuses_in_any_order_end_read_with_full_history(uow: FakeUnitOfWork, order):
    times = {"sent": at(1), "delivered": at(2), "read": at(3)}
    for name in order:
        record_status(status("wamid.S", name, occurred_at=times[name]), uow)

    row = uow.messages.rows["wamid.S"]
    assert (row.status, row.status_at) == ("read", at(3))
    assert sorted(s for _, s in uow.statuses.rows) == ["delivered", "read", "sent"]


def test_read_without_delivered_is_current(uow: FakeUnitOfWork):
    record_status(status("wamid.R", "sent"), uow)
    record_status(status("wamid.R", "read", occurred_at=at(5)), uow)

    assert uow.messages.rows["wamid.R"].status == "read"
    assert ("wamid.R", "delivered") not in uow.statuses.rows


def test_failed_is_terminal(uow: FakeUnitOfWork):
    errors = ({"code": 131049, "title": "healthy ecosystem"},)
    record_status(status("wamid.F", "failed", occurred_at=at(2), errors=errors), uow)
    record_status(status("wamid.F", "sent", occurred_at=at(1)), uow)

    assert uow.messages.rows["wamid.F"].status == "failed"
    assert uow.statuses.rows[("wamid.F", "failed")].errors == errors


def test_status_makes_an_unknown_outbound_message_known(uow: FakeUnitOfWork):
    result = record_status(status("wamid.O", "delivered"), uow)

    stored = uow.messages.rows["wamid.O"].stored
    assert result.attributed
    assert (stored.direction, stored.origin, stored.content.type) == (
        "outbound",
        "statuses",
        None,
    )


def test_echo_after_status_fills_the_type_and_keeps_the_status(uow: FakeUnitOfWork):
    record_status(status("wamid.E", "read"), uow)
    echo = inbound(
        wamid="wamid.E",
        direction="outbound",
        origin="smb_message_echoes",
        content=MessageContent(type="text", text="from the phone app"),
    )

    record_message(echo, uow)

    row = uow.messages.rows["wamid.E"]
    assert (row.stored.origin, row.stored.content.type, row.status) == (
        "smb_message_echoes",
        "text",
        "read",
    )


def test_duplicate_status_is_recorded_once(uow: FakeUnitOfWork):
    command = status("wamid.DS", "delivered")

    assert record_status(command, uow).new
    assert not record_status(command, uow).new
    assert len(uow.statuses.rows) == 1
