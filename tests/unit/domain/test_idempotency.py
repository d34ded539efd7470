"""Idempotency, proved by property: any delivery order, with duplicates, converges.

Hypothesis builds a universe of events — inbound messages, statuses of outbound messages in
every order, coexistence echoes, account events, template reports, contact syncs — then
applies a random subset of them in a random order, each possibly several times, and compares
the final state with applying that subset once each, in the universe's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.commands import (
    AccountEvent,
    ContactSync,
    CustomerRef,
    MessageContent,
    RecordMessage,
    StatusUpdate,
    WabaReport,
)
from domain.connections import apply_account_event
from domain.messages import record_message, record_status
from domain.reports import record_contact_sync, record_report
from tests.commands import T0
from tests.fakes import FakeUnitOfWork

WABAS = ("waba-1", "waba-2", "waba-3")
OWNER = "business-1"
PHONES = {"waba-1": "phone-1", "waba-2": "phone-2", "waba-3": "phone-3"}
CUSTOMERS = (
    CustomerRef(user_id="US.1", wa_id="1555001"),
    CustomerRef(wa_id="1555002"),
    CustomerRef(user_id="BR.3", username="@ana"),  # username only: no phone at all
)
ACCOUNT_EVENTS = (
    "PARTNER_ADDED",
    "PARTNER_REMOVED",
    "ACCOUNT_RECONNECTED",
    "PARTNER_APP_UNINSTALLED",
    "ACCOUNT_VIOLATION",
    "SOMETHING_META_ADDS",
)
STATUSES = ("sent", "delivered", "read", "failed", "played")

seconds = st.integers(min_value=0, max_value=50)
names = st.sampled_from([None, "Ana", "Ana Sousa", "Bea"])


def _when(offset: int) -> Any:
    return T0 + timedelta(seconds=offset)


@st.composite
def inbound_messages(draw: st.DrawFn, index: int) -> RecordMessage:
    waba = draw(st.sampled_from(WABAS))
    base = draw(st.sampled_from(CUSTOMERS))
    customer = CustomerRef(
        user_id=base.user_id, wa_id=base.wa_id, username=base.username, name=draw(names)
    )
    return RecordMessage(
        source=f"in-{index}",
        waba_id=waba,
        phone_number_id=PHONES[waba],
        display_phone_number="15550000",
        wamid=f"wamid.in-{index}",
        direction="inbound",
        origin="messages",
        customer=customer,
        sent_at=_when(draw(seconds)),
        content=MessageContent(type="text", text=f"text {index} caf\u00e9"),
    )


@st.composite
def outbound_traffic(draw: st.DrawFn, index: int) -> list[Any]:
    """The statuses of one outbound message (a subset, own times) and maybe its echo."""
    waba = draw(st.sampled_from(WABAS))
    wamid = f"wamid.out-{index}"
    recipient = draw(st.sampled_from(CUSTOMERS))
    chosen = draw(st.lists(st.sampled_from(STATUSES), unique=True, min_size=1))
    items: list[Any] = [
        StatusUpdate(
            source=f"st-{index}-{name}",
            waba_id=waba,
            phone_number_id=PHONES[waba],
            display_phone_number="15550000",
            wamid=wamid,
            status=name,
            occurred_at=_when(draw(seconds)),
            recipient=recipient,
            errors=({"code": 131049},) if name == "failed" else (),
        )
        for name in chosen
    ]
    if draw(st.booleans()):
        items.append(
            RecordMessage(
                source=f"echo-{index}",
                waba_id=waba,
                phone_number_id=PHONES[waba],
                display_phone_number="15550000",
                wamid=wamid,
                direction="outbound",
                origin="smb_message_echoes",
                customer=recipient,
                sent_at=_when(draw(seconds)),
                content=MessageContent(type="text", text=f"echo {index}"),
            )
        )
    return items


@st.composite
def account_events(draw: st.DrawFn, index: int) -> AccountEvent:
    event = draw(st.sampled_from(ACCOUNT_EVENTS))
    return AccountEvent(
        source=f"acc-{index}",
        waba_id=draw(st.sampled_from(WABAS)),
        event=event,
        occurred_at=_when(draw(seconds)),
        owner_business_id=OWNER,
        details={"event": event},
    )


@st.composite
def reports(draw: st.DrawFn, index: int) -> WabaReport:
    kind = draw(st.sampled_from(["APPROVED", "REJECTED", "PAUSED"]))
    template = draw(st.sampled_from(["t1", "t2"]))
    return WabaReport(
        source=f"rep-{index}",
        waba_id=draw(st.sampled_from(WABAS)),
        field="message_template_status_update",
        kind=kind,
        subject=f"template:{template}",
        occurred_at=_when(draw(seconds)),
        aspect="status",
        details={"event": kind},
    )


@st.composite
def contact_syncs(draw: st.DrawFn, index: int) -> ContactSync:
    return ContactSync(
        source=f"sync-{index}",
        waba_id="waba-1",
        phone_number_id="phone-1",
        contact_phone=draw(st.sampled_from(["1555100", "1555101"])),
        present=draw(st.booleans()),
        occurred_at=_when(draw(seconds)),
        full_name=draw(names),
    )


@st.composite
def universes(draw: st.DrawFn) -> list[Any]:
    """Every event that may be delivered, each once, in the order Meta produced them."""
    universe: list[Any] = []
    for index in range(draw(st.integers(min_value=1, max_value=12))):
        kind = draw(st.sampled_from(["in", "out", "acc", "rep", "sync"]))
        if kind == "in":
            universe.append(draw(inbound_messages(index)))
        elif kind == "out":
            universe.extend(draw(outbound_traffic(index)))
        elif kind == "acc":
            universe.append(draw(account_events(index)))
        elif kind == "rep":
            universe.append(draw(reports(index)))
        else:
            universe.append(draw(contact_syncs(index)))
    return universe


def apply(command: Any, uow: FakeUnitOfWork) -> None:
    if isinstance(command, RecordMessage):
        record_message(command, uow)
    elif isinstance(command, StatusUpdate):
        record_status(command, uow)
    elif isinstance(command, AccountEvent):
        apply_account_event(command, uow)
    elif isinstance(command, WabaReport):
        record_report(command, uow)
    else:
        record_contact_sync(command, uow)


def seeded() -> FakeUnitOfWork:
    """Two onboarded WABAs of one business and one orphan, as onboarding leaves them."""
    uow = FakeUnitOfWork()
    uow.connect("waba-1", "org-a", owner_business_id=OWNER)
    uow.connect("waba-2", "org-b")
    uow.connect("waba-3", None, owner_business_id=OWNER)
    return uow


def final_state(commands: Sequence[Any]) -> dict[str, Any]:
    uow = seeded()
    for command in commands:
        apply(command, uow)
    return uow.snapshot()


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """(the subset once each in Meta's order, the same subset shuffled with duplicates)."""
    universe = draw(universes())
    chosen = sorted(
        draw(st.sets(st.integers(min_value=0, max_value=len(universe) - 1), min_size=1))
    )
    subset = [universe[i] for i in chosen]
    repeats = draw(st.lists(st.integers(min_value=1, max_value=3), min_size=len(subset),
                            max_size=len(subset)))  # fmt: skip
    delivered = [command for command, times in zip(subset, repeats, strict=True)
                 for _ in range(times)]  # fmt: skip
    return subset, draw(st.permutations(delivered))


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_any_order_with_duplicates_ends_in_the_state_of_each_event_applied_once(case):
    in_order, delivered = case

    assert final_state(delivered) == final_state(in_order)


@settings(max_examples=100, deadline=None)
@given(universes())
def test_applying_everything_twice_changes_nothing_the_second_time(universe):
    uow = seeded()
    for command in universe:
        apply(command, uow)
    once = uow.snapshot()

    for command in universe:
        apply(command, uow)

    assert uow.snapshot() == once
