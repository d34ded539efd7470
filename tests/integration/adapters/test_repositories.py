"""The SQL repositories keep the contracts the fakes keep (``domain.ports``).

Each scenario is a list of domain calls built once, then applied to a ``FakeUnitOfWork`` and
to a ``PgUnitOfWork`` inside a transaction (rolled back afterwards); the two end states are
compared field by field, and each scenario also states the contract it is about.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, cast

import psycopg
import pytest

from adapters.connection_repos import PgConnectionRepo
from adapters.unit_of_work import PgUnitOfWork
from domain.commands import (
    AccountEvent,
    ContactSync,
    CustomerRef,
    HistoryChunk,
    MessageContent,
    WabaReport,
)
from domain.connections import AccountOutcome, apply_account_event, attach_organization
from domain.messages import Recorded, record_message, record_status
from domain.ports import Connection, UnitOfWork
from domain.reports import record_contact_sync, record_history_chunk, record_report
from tests import state
from tests.builders import unique_suffix
from tests.commands import PHONE, WABA, account_event, at, inbound, status
from tests.fakes import FakeUnitOfWork

Step = Callable[[UnitOfWork], object]


class Scenario:
    """Domain calls built once (ids fixed), to replay on any unit of work."""

    def __init__(self, *steps: Step, onboardings: Mapping[str, str] | None = None) -> None:
        self.steps = steps
        #: WABA → organization of an onboarding session that reported it.
        self.onboardings = dict(onboardings or {})

    def apply(self, uow: UnitOfWork) -> list[object]:
        return [step(uow) for step in self.steps]


def connect(
    waba_id: str,
    organization_id: str | None,
    *,
    owner_business_id: str | None = None,
    status: str | None = None,
) -> Step:
    """Given: a connection as onboarding leaves it, last changed long ago."""
    connection = Connection(
        waba_id=waba_id,
        organization_id=organization_id,
        owner_business_id=owner_business_id,
        status=status or ("active" if organization_id else "orphan"),
        status_reason=None,
        status_at=state.SEED_TIME,
        status_source="seed",
    )
    return lambda uow: uow.connections.insert(connection)


def move_connection(waba_id: str, organization_id: str) -> Step:
    def move(uow: UnitOfWork) -> None:
        current = uow.connections.get_for_update(waba_id)
        assert current is not None
        uow.connections.update(replace(current, organization_id=organization_id))

    return move


def raw_fields(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON the dataclasses leave out of ``==`` (raw messages, status raw, details)."""
    return {
        "messages": {
            wamid: dict(row[0].content.raw or {}) for wamid, row in snapshot["messages"].items()
        },
        "statuses": {key: dict(row.raw) for key, row in snapshot["statuses"].items()},
        "history": {key: dict(row.details) for key, row in snapshot["history"].items()},
    }


Outcome = tuple[list[object], dict[str, Any]]

#: A linguistic collation orders "wamid.a" before "wamid.B"; code points (the fakes, Python)
#: the other way round. The "later wins" columns get it for the scenario, as a database
#: created with an ICU default would have it: the SQL must not depend on it.
LINGUISTIC_COLLATION = "en-x-icu"
SOURCE_COLUMNS = (
    ("customer", "profile_source"),
    ("account_state", "source"),
    ("business_contact", "source"),
)


def use_linguistic_collation(db: psycopg.Connection[Any]) -> None:
    """Inside the caller's transaction (DDL rolls back with it); a no-op without ICU."""
    if not state.rows(
        db, "SELECT 1 FROM pg_collation WHERE collname = %s", (LINGUISTIC_COLLATION,)
    ):
        return
    for table_name, column in SOURCE_COLUMNS:
        db.execute(
            f"ALTER TABLE {table_name} ALTER COLUMN {column}"
            f' TYPE text COLLATE "{LINGUISTIC_COLLATION}"'
        )


@pytest.fixture
def run_both(db: psycopg.Connection[Any]) -> Callable[[Scenario], tuple[Outcome, Outcome]]:
    """Apply a scenario to the fakes and to Postgres; (results, snapshot) of each."""

    def run(scenario: Scenario) -> tuple[Outcome, Outcome]:
        fake = FakeUnitOfWork()
        fake.onboardings.by_waba.update(scenario.onboardings)
        # The fake's repos are concrete classes, the Protocol's attributes are mutable (hence
        # invariant) ports: mypy cannot see that they match, the contract tests below do.
        fake_results = scenario.apply(cast(UnitOfWork, fake))
        with db.transaction(force_rollback=True):
            use_linguistic_collation(db)
            for index, (waba_id, organization) in enumerate(scenario.onboardings.items()):
                state.seed_onboarding(db, f"track-{index}", organization, waba_id)
            pg_results = scenario.apply(PgUnitOfWork(db))
            pg_snapshot = state.domain_snapshot(db)
        return (fake_results, fake.snapshot()), (pg_results, pg_snapshot)

    return run


def assert_same(fake: Outcome, pg: Outcome) -> dict[str, Any]:
    """Postgres ended exactly where the fakes did; the (shared) snapshot."""
    (fake_results, fake_state), (pg_results, pg_state) = fake, pg
    assert pg_results == fake_results
    assert set(pg_state) == set(fake_state)
    for part in fake_state:
        assert pg_state[part] == fake_state[part], part
    assert raw_fields(pg_state) == raw_fields(fake_state)
    return pg_state


RunBoth = Callable[[Scenario], tuple[Outcome, Outcome]]


# --- messages and statuses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrivals", "current"),
    [
        ((("read", 30), ("sent", 10), ("delivered", 20)), "read"),
        ((("delivered", 20), ("sent", 10), ("played", 40), ("read", 30)), "played"),
        ((("read", 30), ("failed", 20), ("delivered", 10)), "failed"),
        ((("sent", 10), ("deleted_by_recipient", 50)), "sent"),
        ((("deleted_by_recipient", 50),), None),
    ],
)
def test_statuses_out_of_order_end_with_the_same_current_status(
    arrivals: tuple[tuple[str, int], ...], current: str | None, run_both: RunBoth
):
    wamid = f"wamid.OUT{unique_suffix()}"
    commands = [status(wamid, name, occurred_at=at(seconds)) for name, seconds in arrivals]
    # The first status again, as a duplicate delivery would bring it.
    steps = [partial(record_status, command) for command in [*commands, commands[0]]]

    fake, pg = run_both(Scenario(connect(WABA, "org-a"), *steps))

    snapshot = assert_same(fake, pg)
    _, _, status_now, _, _ = snapshot["messages"][wamid]
    assert status_now == current
    assert {key[1] for key in snapshot["statuses"]} == {name for name, _ in arrivals}
    recorded = [result for result in pg[0][1:] if isinstance(result, Recorded)]
    assert [result.new for result in recorded] == [True] * len(arrivals) + [False]


def test_the_latest_profile_wins_by_meta_time_whatever_the_arrival_order(run_both: RunBoth):
    n = unique_suffix()
    user = CustomerRef(user_id=f"US.P{n}", wa_id=f"1650{n}", name="Newest", username="@new")
    steps = [
        inbound(wamid=f"wamid.P2{n}", customer=user, sent_at=at(20)),
        # Older, arriving later: its profile is not the latest.
        inbound(
            wamid=f"wamid.P1{n}",
            customer=replace(user, name="Oldest", username=None),
            sent_at=at(10),
        ),
        # Later but with no profile and no phone: changes neither; the phone is kept.
        inbound(wamid=f"wamid.P3{n}", customer=CustomerRef(user_id=f"US.P{n}"), sent_at=at(30)),
    ]

    fake, pg = run_both(Scenario(*(partial(record_message, command) for command in steps)))

    snapshot = assert_same(fake, pg)
    ((key, (ref, as_of)),) = snapshot["customers"].items()
    assert key == (WABA, f"bsuid:US.P{n}")
    assert (ref.name, ref.username, ref.wa_id) == ("Newest", "@new", f"1650{n}")
    assert as_of == (at(20), f"wamid.P2{n}")


def test_profiles_at_the_same_time_are_ordered_by_wamid_code_point(run_both: RunBoth):
    # "wamid.a…" > "wamid.B…" by code point (the fakes' order); the linguistic collation
    # ``run_both`` gives the column says the opposite: SQL must compare by code point.
    n = unique_suffix()
    user = CustomerRef(user_id=f"US.T{n}")
    lower = inbound(wamid=f"wamid.a{n}", customer=replace(user, name="lower"), sent_at=at(5))
    upper = inbound(wamid=f"wamid.B{n}", customer=replace(user, name="upper"), sent_at=at(5))

    fake, pg = run_both(Scenario(partial(record_message, lower), partial(record_message, upper)))

    snapshot = assert_same(fake, pg)
    ((ref, _),) = snapshot["customers"].values()
    assert ref.name == "lower"


def test_a_message_keeps_its_first_organization_and_fills_what_it_lacked(run_both: RunBoth):
    n = unique_suffix()
    attributed, unattributed = f"wamid.O1{n}", f"wamid.O2{n}"
    other_waba, other_phone = f"3400{n}", f"4400{n}"
    steps: list[Step] = [
        connect(WABA, "org-a"),
        partial(record_message, inbound(wamid=attributed)),
        move_connection(WABA, "org-b"),
        # Same wamid, now seen through org-b's connection: the first organization stays.
        partial(record_status, status(attributed, "read", occurred_at=at(5))),
        # Unknown WABA: stored unattributed, attributed once its connection is known.
        partial(
            record_message,
            inbound(wamid=unattributed, waba_id=other_waba, phone_number_id=other_phone),
        ),
        connect(other_waba, "org-c"),
        partial(
            record_status,
            status(
                unattributed,
                "sent",
                occurred_at=at(6),
                waba_id=other_waba,
                phone_number_id=other_phone,
            ),
        ),
    ]

    fake, pg = run_both(Scenario(*steps))

    snapshot = assert_same(fake, pg)
    assert snapshot["messages"][attributed][0].organization_id == "org-a"
    assert snapshot["messages"][unattributed][0].organization_id == "org-c"
    assert snapshot["messages"][attributed][0].origin == "messages"  # a status never demotes


def test_the_wabas_unattributed_messages_follow_it_when_it_is_attached(run_both: RunBoth):
    n = unique_suffix()
    waba, business = f"3401{n}", f"5701{n}"
    before = inbound(wamid=f"wamid.A1{n}", waba_id=waba, phone_number_id=f"4401{n}")
    elsewhere = inbound(wamid=f"wamid.A2{n}")
    steps: list[Step] = [
        partial(record_message, before),
        partial(record_message, elsewhere),
        partial(
            apply_account_event,
            account_event("PARTNER_ADDED", waba_id=waba, owner_business_id=business),
        ),
    ]

    fake, pg = run_both(Scenario(*steps, onboardings={waba: "org-late"}))

    snapshot = assert_same(fake, pg)
    assert snapshot["messages"][before.wamid][0].organization_id == "org-late"
    assert snapshot["messages"][elsewhere.wamid][0].organization_id is None
    assert snapshot["connections"][waba].status == "active"


def test_a_later_copy_fills_a_placeholder_and_the_fuller_origin_is_kept(run_both: RunBoth):
    n = unique_suffix()
    wamid = f"wamid.F{n}"
    steps = [
        partial(record_status, status(wamid, "sent", occurred_at=at(1))),
        partial(
            record_message,
            inbound(
                wamid=wamid,
                direction="outbound",
                origin="history",
                content=MessageContent(type=None),
                sent_at=at(0),
            ),
        ),
        partial(
            record_message,
            inbound(
                wamid=wamid,
                direction="outbound",
                origin="smb_message_echoes",
                content=MessageContent(type="image", media_id=f"m{n}", text="caption"),
                sent_at=at(0),
            ),
        ),
        partial(
            record_message,
            inbound(
                wamid=wamid,
                direction="outbound",
                origin="history",
                content=MessageContent(type="video", media_id="other", text="other"),
                sent_at=at(0),
            ),
        ),
    ]

    fake, pg = run_both(Scenario(connect(WABA, "org-a"), *steps))

    snapshot = assert_same(fake, pg)
    stored, _, current, _, _ = snapshot["messages"][wamid]
    assert stored.origin == "smb_message_echoes"
    assert (stored.content.type, stored.content.media_id, stored.content.text) == (
        "image",
        f"m{n}",
        "caption",
    )
    assert stored.sent_at == at(0)
    assert current == "sent"


def test_a_numbers_first_waba_and_latest_inbound_time_are_kept(run_both: RunBoth):
    n = unique_suffix()
    phone = f"4402{n}"
    steps = [
        partial(record_message, inbound(phone_number_id=phone, sent_at=at(50))),
        partial(record_message, inbound(phone_number_id=phone, sent_at=at(20))),
        partial(
            record_message,
            inbound(phone_number_id=phone, waba_id=f"3402{n}", sent_at=at(10)),
        ),
    ]

    fake, pg = run_both(Scenario(connect(WABA, "org-a"), *steps))

    snapshot = assert_same(fake, pg)
    number, last_inbound = snapshot["phones"][phone]
    assert (number.waba_id, last_inbound) == (WABA, at(50))
    assert {stored.organization_id for stored, *_ in snapshot["messages"].values()} == {"org-a"}
    assert PHONE not in snapshot["phones"]


# --- account events ---------------------------------------------------------------------------


def test_partner_added_takes_the_organization_of_an_attached_connection_of_its_business(
    run_both: RunBoth,
):
    n = unique_suffix()
    business = f"5703{n}"
    waba, orphan_waba = f"3403{n}", f"3404{n}"
    steps: list[Step] = [
        connect(f"3405{n}", "org-a", owner_business_id=business),
        partial(
            apply_account_event,
            account_event("PARTNER_ADDED", waba_id=waba, owner_business_id=business),
        ),
        partial(
            apply_account_event,
            account_event("PARTNER_ADDED", waba_id=orphan_waba, owner_business_id=f"5704{n}"),
        ),
    ]

    fake, pg = run_both(Scenario(*steps))

    snapshot = assert_same(fake, pg)
    attached, orphan = snapshot["connections"][waba], snapshot["connections"][orphan_waba]
    assert (attached.status, attached.organization_id) == ("active", "org-a")
    assert (orphan.status, orphan.organization_id) == ("orphan", None)
    outcomes = [result for result in pg[0][1:] if isinstance(result, AccountOutcome)]
    assert [outcome.orphan for outcome in outcomes] == [False, True]


def test_an_older_account_event_arriving_last_changes_no_status(run_both: RunBoth):
    n = unique_suffix()
    waba = f"3406{n}"
    removed = account_event("PARTNER_REMOVED", waba_id=waba, occurred_at=at(100))
    added = account_event("PARTNER_ADDED", waba_id=waba, occurred_at=at(50))
    banned = account_event(
        "DISABLED_UPDATE",
        waba_id=waba,
        occurred_at=at(40),
        details={"ban_info": {"waba_ban_state": "DISABLE"}},
    )
    steps = [partial(apply_account_event, cmd) for cmd in (removed, added, banned)]

    fake, pg = run_both(Scenario(connect(waba, "org-a"), *steps))

    snapshot = assert_same(fake, pg)
    connection = snapshot["connections"][waba]
    assert (connection.status, connection.status_at, connection.status_source) == (
        "disconnected",
        at(100),
        removed.source,
    )
    assert len(snapshot["history"]) == 3
    # The late ban is still the latest (only) report of the ban aspect.
    assert snapshot["state"][(waba, "waba", "ban")].as_of == (at(40), banned.source)


def test_the_same_account_event_applied_twice_is_recorded_once(run_both: RunBoth):
    n = unique_suffix()
    event = account_event("PARTNER_REMOVED", waba_id=f"3407{n}", occurred_at=at(10))

    fake, pg = run_both(
        Scenario(partial(apply_account_event, event), partial(apply_account_event, event))
    )

    snapshot = assert_same(fake, pg)
    assert len(snapshot["history"]) == 1
    first, second = pg[0]
    assert isinstance(first, AccountOutcome)
    assert isinstance(second, AccountOutcome)
    assert (first.status_changed, second.status_changed) == (True, False)


# --- reports, contacts, history chunks ----------------------------------------------------------


def report(source: str, occurred_at: datetime, value: str) -> WabaReport:
    return WabaReport(
        source=source,
        waba_id=WABA,
        field="phone_number_quality_update",
        kind=value,
        subject="phone_number:15557650134",
        occurred_at=occurred_at,
        aspect="quality",
        details={"event": value},
    )


def test_account_state_keeps_the_latest_report_even_when_the_older_arrives_last(
    run_both: RunBoth,
):
    n = unique_suffix()
    newer = report(f"r:new{n}", at(20), "THROUGHPUT_UPGRADE")
    older = report(f"r:old{n}", at(10), "ONBOARDING")
    # Same Meta time: the greater source by code point wins ("r:a…" > "r:B…").
    tie_a = replace(report(f"r:a{n}", at(30), "TIE_A"), subject="phone_number:tie")
    tie_b = replace(report(f"r:B{n}", at(30), "TIE_B"), subject="phone_number:tie")
    steps = [partial(record_report, cmd) for cmd in (newer, older, tie_a, tie_b)]

    fake, pg = run_both(Scenario(*steps))

    snapshot = assert_same(fake, pg)
    latest = snapshot["state"][(WABA, "phone_number:15557650134", "quality")]
    assert (dict(latest.value), latest.as_of) == (
        {"event": "THROUGHPUT_UPGRADE"},
        (newer.occurred_at, newer.source),
    )
    tie = snapshot["state"][(WABA, "phone_number:tie", "quality")]
    assert dict(tie.value) == {"event": "TIE_A"}
    assert len(snapshot["history"]) == 4


def test_a_report_with_the_same_source_is_recorded_once(run_both: RunBoth):
    n = unique_suffix()
    first = report(f"r:dup{n}", at(10), "ONBOARDING")
    # A replay carries the same source; even other content must not rewrite history.
    again = replace(first, kind="CHANGED", details={"event": "CHANGED"})

    fake, pg = run_both(Scenario(partial(record_report, first), partial(record_report, again)))

    snapshot = assert_same(fake, pg)
    assert pg[0] == [True, False]
    assert [entry.kind for entry in snapshot["history"].values()] == ["ONBOARDING"]


def contact(source: str, occurred_at: datetime, *, present: bool, name: str | None) -> ContactSync:
    return ContactSync(
        source=source,
        waba_id=WABA,
        phone_number_id=PHONE,
        contact_phone="5491155502871",
        present=present,
        occurred_at=occurred_at,
        full_name=name,
        first_name=name,
    )


def test_a_business_contact_keeps_the_latest_sync_even_when_the_older_arrives_last(
    run_both: RunBoth,
):
    n = unique_suffix()
    added = contact(f"c:add{n}", at(20), present=True, name="Lucía")
    removed = contact(f"c:rm{n}", at(10), present=False, name=None)
    tie = contact(f"c:B{n}", at(20), present=False, name=None)  # "c:B" < "c:add": loses

    fake, pg = run_both(
        Scenario(*(partial(record_contact_sync, cmd) for cmd in (added, removed, tie)))
    )

    snapshot = assert_same(fake, pg)
    (stored,) = snapshot["contacts"].values()
    assert (stored.present, stored.full_name, stored.as_of) == (
        True,
        "Lucía",
        (at(20), added.source),
    )


def test_a_history_chunk_with_the_same_source_is_recorded_once(run_both: RunBoth):
    n = unique_suffix()
    chunk = HistoryChunk(
        source=f"h:{n}",
        waba_id=WABA,
        phone_number_id=PHONE,
        phase=0,
        chunk_order=1,
        progress=40,
        threads=1,
        messages=3,
        errors=({"code": 2593109, "title": "declined"},),
    )

    fake, pg = run_both(
        Scenario(partial(record_history_chunk, chunk), partial(record_history_chunk, chunk))
    )

    snapshot = assert_same(fake, pg)
    assert pg[0] == [True, False]
    assert list(snapshot["chunks"]) == [chunk.source]


# --- concurrency -----------------------------------------------------------------------------


class RacingConnectionRepo(PgConnectionRepo):
    """Holds each writer after it found no connection until both have: both then insert."""

    def __init__(self, conn: psycopg.Connection[Any], barrier: threading.Barrier) -> None:
        super().__init__(conn)
        self._barrier = barrier
        self._waited = False
        self.inserted: list[bool] = []

    def get_for_update(self, waba_id: str) -> Connection | None:
        found = super().get_for_update(waba_id)
        if found is None and not self._waited:
            self._waited = True
            self._barrier.wait()
        return found

    def insert(self, connection: Connection) -> bool:
        created = super().insert(connection)
        self.inserted.append(created)
        return created


@pytest.mark.parametrize(
    ("attached", "status", "organization"),
    [(True, "active", "org-a"), (False, "orphan", None)],
    ids=["business_attached", "nothing_resolves"],
)
def test_two_concurrent_partner_added_for_a_new_waba_converge_on_one_connection(
    attached: bool,
    status: str,
    organization: str | None,
    db: psycopg.Connection[Any],
    database_url: str,
):
    n = unique_suffix()
    waba, business = f"3408{n}", f"5708{n}"
    if attached:
        state.seed_connection(db, f"3409{n}", "org-a", owner_business_id=business)
    # Two deliveries of the WABA's sharing (Meta sent it twice, a second apart).
    events = [
        account_event(
            "PARTNER_ADDED",
            waba_id=waba,
            owner_business_id=business,
            occurred_at=at(seconds),
            source=f"ev:partner-added:{n}:{seconds}",
        )
        for seconds in (1, 2)
    ]
    barrier = threading.Barrier(2, timeout=10)
    repos: list[RacingConnectionRepo] = []
    errors: list[BaseException] = []

    def share(event: AccountEvent) -> None:
        try:
            with psycopg.connect(database_url) as conn, conn.transaction():
                uow = PgUnitOfWork(conn)
                repo = RacingConnectionRepo(conn, barrier)
                repos.append(repo)
                uow.connections = repo
                apply_account_event(event, uow)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=share, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    # Both found no connection and both tried to create it: one did, the other joined it.
    assert sorted(created for repo in repos for created in repo.inserted) == [False, True]
    rows = state.rows(
        db,
        "SELECT organization_id, status, status_at, status_source FROM connection"
        " WHERE waba_id = %s",
        (waba,),
    )
    # Whoever won the insert, the later event's time is the connection's status time.
    assert rows == [
        {
            "organization_id": organization,
            "status": status,
            "status_at": at(2),
            "status_source": events[1].source,
        }
    ]
    assert len(state.rows(db, "SELECT 1 FROM account_history WHERE waba_id = %s", (waba,))) == 2


def test_a_session_and_partner_added_at_once_converge_on_one_attached_connection(
    db: psycopg.Connection[Any], database_url: str
):
    """The completion job attaches the WABA while a worker applies its PARTNER_ADDED."""
    n = unique_suffix()
    waba, business = f"3418{n}", f"5718{n}"
    barrier = threading.Barrier(2, timeout=10)
    repos: list[RacingConnectionRepo] = []
    errors: list[BaseException] = []

    def run(step: Any) -> None:
        try:
            with psycopg.connect(database_url) as conn, conn.transaction():
                uow = PgUnitOfWork(conn)
                repo = RacingConnectionRepo(conn, barrier)
                repos.append(repo)
                uow.connections = repo
                step(uow)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    def session(uow: Any) -> None:
        attach_organization(
            uow,
            waba_id=waba,
            organization_id="org-s",
            owner_business_id=None,
            at=at(5),
            source=f"onboarding:{n}",
        )

    def partner_added(uow: Any) -> None:
        apply_account_event(
            account_event("PARTNER_ADDED", waba_id=waba, owner_business_id=business,
                          occurred_at=at(1), source=f"ev:pa:{n}"),
            uow,
        )  # fmt: skip

    threads = [threading.Thread(target=run, args=(step,)) for step in (session, partner_added)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert sorted(created for repo in repos for created in repo.inserted) == [False, True]
    rows = state.rows(
        db,
        "SELECT organization_id, owner_business_id, status FROM connection WHERE waba_id = %s",
        (waba,),
    )
    assert rows == [{"organization_id": "org-s", "owner_business_id": business, "status": "active"}]
