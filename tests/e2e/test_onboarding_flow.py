"""Embedded Signup end to end: real ``wapipe ingress`` and ``wapipe worker`` processes, a fake
Graph over HTTP that behaves like Meta, the API as the SaaS uses it (SPEC §7, §8, §16).

One set of processes serves the whole module (each test has its own ids).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bench.procs import child_environ, free_port
from domain.graph import REQUIRED_SCOPES
from tests import shapes
from tests.builders import APP_SECRET, unique_suffix, wire_bytes
from tests.conftest import settings_environ
from tests.e2e.conftest import E2E_SETTINGS
from tests.e2e.helpers import post_signed, run_wapipe
from tests.fake_graph import FakeGraph
from tests.processes import running_ingress, running_worker, wait_until

pytestmark = pytest.mark.e2e

APP_ID = "1234567890"
TOKEN_KEY = "k1:" + "ab" * 32
DEADLINE_S = 60.0


@dataclass
class Stack:
    client: httpx.Client
    graph: FakeGraph
    env: dict[str, str]
    database_url: str
    admin_key: str

    def key_for(self, organization: str) -> str:
        result = run_wapipe(self.env, "apikeys", "create", "--org", organization, "--json")
        assert result.returncode == 0, result.stderr
        key: str = json.loads(result.stdout)["key"]
        return key

    def api(self, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    def connections(self, organization: str, key: str) -> list[dict[str, Any]]:
        answer = self.api("GET", f"/organizations/{organization}/connections", key)
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()
        return items

    def onboarding(self, tracking_code: str, key: str) -> dict[str, Any]:
        answer = self.api("GET", f"/onboardings/{tracking_code}", key)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture(scope="module")
def stack(
    fresh_database: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    database_url = fresh_database()
    log_dir = tmp_path_factory.mktemp("onboarding-logs")
    graph = FakeGraph(app_id=APP_ID, app_secret=APP_SECRET)
    with graph.serve() as server:
        env = child_environ(
            settings_environ(
                database_url,
                redis_url,
                f"wapipe-e2e-{uuid.uuid4().hex[:8]}",
                PORT=str(free_port()),
                WORKER_METRICS_PORT=str(free_port()),
                META_APP_ID=APP_ID,
                GRAPH_BASE_URL=server.url,
                TOKEN_KEYS=TOKEN_KEY,
                REGISTER_PIN="246810",
                **E2E_SETTINGS,
            )
        )
        created = run_wapipe(env, "apikeys", "create", "--admin", "--json")
        assert created.returncode == 0, created.stderr
        with (
            running_ingress(env, log_dir) as base_url,
            running_worker(env, log_dir, threads=2),
            httpx.Client(base_url=base_url, timeout=30.0) as client,
        ):
            yield Stack(client, graph, env, database_url, json.loads(created.stdout)["key"])


@dataclass
class Signup:
    organization: str
    key: str
    waba_id: str
    business_id: str
    phones: list[str]
    token: str
    code: str


def signup(stack: Stack, *, phones: int = 1, coexistence: bool = False) -> Signup:
    """What Meta's side holds once a customer went through Embedded Signup."""
    n = unique_suffix()
    waba_id, business_id = f"9100{n}", f"9200{n}"
    numbers = [f"93{i}0{n}" for i in range(phones)]
    token = f"EAAG-business-token-{uuid.uuid4().hex}"
    code = f"code-{uuid.uuid4().hex}"
    stack.graph.add_token(token, waba_ids={waba_id}, scopes=REQUIRED_SCOPES, expires_at=0)
    stack.graph.add_code(code, token)
    for number in numbers:
        stack.graph.add_phone(waba_id, number, display_phone_number=f"+1555{number[-6:]}",
                              is_on_biz_app=coexistence)  # fmt: skip
    organization = f"org-{n}"
    return Signup(organization, stack.key_for(organization), waba_id, business_id, numbers,
                  token, code)  # fmt: skip


def start(stack: Stack, who: Signup) -> str:
    answer = stack.api("POST", "/onboardings", who.key, json={"organization_id": who.organization})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "pending"
    code: str = answer.json()["tracking_code"]
    return code


def post_session(stack: Stack, who: Signup, tracking_code: str, event: str = "FINISH") -> None:
    answer = stack.api(
        "POST",
        f"/onboardings/{tracking_code}/session",
        who.key,
        json={
            "code": who.code,
            "waba_id": who.waba_id,
            "business_id": who.business_id,
            "phone_number_id": who.phones[0] if who.phones else None,
            "event": event,
        },
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "session_received"}


def post_partner_added(stack: Stack, who: Signup) -> None:
    payload = shapes.account_update_partner_added(waba_id=who.waba_id, business_id=who.business_id)
    assert payload["entry"][0]["id"] != who.waba_id  # entry.id is a business portfolio
    response = post_signed(stack.client, wire_bytes(payload))
    assert response.status_code == 200, response.text


def wait_completed(stack: Stack, who: Signup, tracking_code: str) -> dict[str, Any]:
    wait_until(
        lambda: stack.onboarding(tracking_code, who.key)["status"] == "completed",
        timeout=DEADLINE_S,
        message=lambda: f"onboarding completed; now {stack.onboarding(tracking_code, who.key)}",
    )
    (connection,) = stack.connections(who.organization, who.key)
    return connection


def assert_no_token_anywhere(stack: Stack, who: Signup, *answers: Any) -> None:
    for answer in answers:
        assert who.token not in json.dumps(answer)
    with psycopg.connect(stack.database_url) as conn:
        (ciphertext,) = conn.execute(
            "SELECT ciphertext FROM business_token WHERE waba_id = %s", (who.waba_id,)
        ).fetchone() or (None,)
    assert ciphertext is not None
    assert ciphertext.startswith("v1.k1.")
    assert who.token not in ciphertext


def test_session_then_partner_added_completes_the_onboarding(stack: Stack):
    who = signup(stack)
    tracking_code = start(stack, who)

    post_session(stack, who, tracking_code)
    connection = wait_completed(stack, who, tracking_code)
    post_partner_added(stack, who)

    assert connection["waba_id"] == who.waba_id
    assert connection["owner_business_id"] == who.business_id
    assert connection["status"] == "active"
    assert connection["token_status"] == "valid"
    assert connection["reconnect_required"] is False
    assert connection["phone_numbers"][0]["phone_number_id"] == who.phones[0]
    assert connection["phone_numbers"][0]["status"] == "connected"
    assert [s.waba_id for s in stack.graph.subscriptions].count(who.waba_id) == 1
    assert [(r.phone_number_id, r.pin) for r in stack.graph.registrations if
            r.phone_number_id == who.phones[0]] == [(who.phones[0], "246810")]  # fmt: skip
    assert_no_token_anywhere(stack, who, connection, stack.onboarding(tracking_code, who.key))


def test_partner_added_first_leaves_an_orphan_that_the_session_attaches(stack: Stack):
    who = signup(stack)
    post_partner_added(stack, who)
    wait_until(
        lambda: who.waba_id in [o["waba_id"] for o in
                                stack.api("GET", "/admin/orphans", stack.admin_key).json()],
        timeout=DEADLINE_S,
        message="the orphan",
    )  # fmt: skip
    orphans = run_wapipe(stack.env, "orphans", "list", "--json")
    assert who.waba_id in [o["waba_id"] for o in json.loads(orphans.stdout)]
    tracking_code = start(stack, who)

    post_session(stack, who, tracking_code)
    connection = wait_completed(stack, who, tracking_code)

    assert (connection["waba_id"], connection["status"]) == (who.waba_id, "active")
    assert connection["owner_business_id"] == who.business_id
    orphans = stack.api("GET", "/admin/orphans", stack.admin_key).json()
    assert who.waba_id not in [o["waba_id"] for o in orphans]


def test_two_numbers_await_the_saas_choice_then_the_chosen_one_is_registered(stack: Stack):
    who = signup(stack, phones=2)
    tracking_code = start(stack, who)

    post_session(stack, who, tracking_code)
    connection = wait_completed(stack, who, tracking_code)
    assert connection["status"] == "awaiting_phone_selection"
    chosen = who.phones[1]
    answer = stack.api(
        "POST", f"/connections/{who.waba_id}/phone", who.key, json={"phone_number_id": chosen}
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "active"
    wait_until(
        lambda: chosen in [r.phone_number_id for r in stack.graph.registrations],
        timeout=DEADLINE_S,
        message="the chosen number's registration",
    )
    registered = [r.phone_number_id for r in stack.graph.registrations]
    assert who.phones[0] not in registered


def test_a_coexistence_number_gets_both_syncs_and_no_registration(stack: Stack):
    who = signup(stack, coexistence=True)
    tracking_code = start(stack, who)

    post_session(stack, who, tracking_code, event="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING")
    wait_completed(stack, who, tracking_code)

    syncs = sorted(s.sync_type for s in stack.graph.sync_requests
                   if s.phone_number_id == who.phones[0])  # fmt: skip
    assert syncs == ["history", "smb_app_state_sync"]
    assert who.phones[0] not in [r.phone_number_id for r in stack.graph.registrations]


def test_a_graph_outage_during_the_job_is_retried_and_the_onboarding_completes(stack: Stack):
    who = signup(stack)
    stack.graph.fail_next("subscribe_app", times=2, status=503)
    tracking_code = start(stack, who)

    post_session(stack, who, tracking_code)

    assert wait_completed(stack, who, tracking_code)["status"] == "active"


def test_a_refused_graph_call_dead_letters_the_job_and_a_replay_completes_it(stack: Stack):
    who = signup(stack)
    stack.graph.fail_next("list_phone_numbers", times=1, error_code=100, message="Bad request")
    tracking_code = start(stack, who)
    post_session(stack, who, tracking_code)

    def dead_letter() -> dict[str, Any] | None:
        listed = json.loads(run_wapipe(stack.env, "dlq", "list", "--json").stdout)
        return next((d for d in listed if d["field"] == "onboarding_completion"), None)

    wait_until(lambda: dead_letter() is not None, timeout=DEADLINE_S, message="the dead letter")
    letter = dead_letter()
    assert letter is not None
    assert letter["webhook_id"] is None
    assert (letter["reason"], "code 100" in letter["error"]) == ("graph_rejected", True)
    assert stack.onboarding(tracking_code, who.key)["status"] == "session_received"

    replayed = run_wapipe(stack.env, "dlq", "replay", str(letter["id"]))

    assert replayed.returncode == 0, replayed.stderr
    assert wait_completed(stack, who, tracking_code)["status"] == "active"
    assert [s.waba_id for s in stack.graph.subscriptions].count(who.waba_id) == 1


def test_a_refused_code_exchange_answers_502_and_the_onboarding_stays_pending(stack: Stack):
    who = signup(stack)
    tracking_code = start(stack, who)
    stack.graph.expire_code(who.code)

    answer = stack.api(
        "POST",
        f"/onboardings/{tracking_code}/session",
        who.key,
        json={"code": who.code, "waba_id": who.waba_id},
    )

    assert answer.status_code == 502, answer.text
    assert answer.json()["error"] == "code_exchange_failed"
    assert answer.json()["detail"]
    assert stack.onboarding(tracking_code, who.key)["status"] == "pending"


def test_another_organizations_key_sees_nothing_and_cannot_administer(stack: Stack, tmp_path: Path):
    who = signup(stack)
    tracking_code = start(stack, who)
    other = stack.key_for(f"org-other-{unique_suffix()}")

    assert stack.api("GET", f"/onboardings/{tracking_code}", other).status_code == 404
    assert (
        stack.api("GET", f"/organizations/{who.organization}/connections", other).status_code == 404
    )
    assert stack.api("GET", "/admin/orphans", other).status_code == 403
    claim = stack.api(
        "POST", f"/admin/orphans/{who.waba_id}/claim", other, json={"organization_id": "x"}
    )
    assert claim.status_code == 403
