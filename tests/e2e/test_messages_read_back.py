"""Signed wire-format webhooks through the real ``wapipe ingress`` and ``wapipe worker``, read
back through ``/api/v1`` with each organization's key (issue: Meta's payloads, typed and handled).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests import shapes
from tests.builders import unique_suffix, wire_bytes
from tests.e2e.conftest import EnvironFactory
from tests.e2e.helpers import post_signed, query, run_wapipe, wait_for_terminal_webhooks
from tests.processes import running_ingress, running_worker

pytestmark = pytest.mark.e2e

PROCESSING_DEADLINE_S = 60.0


def batched_for_two_wabas(
    waba_a: str, phone_a: str, waba_b: str, phone_b: str, text_a: str
) -> dict[str, Any]:
    """One POST, two entries: a text for WABA A, a username-only user's text for WABA B."""
    first = shapes.message_text(text_a, waba_id=waba_a, phone_number_id=phone_a)
    second = shapes.message_from_username_user(waba_id=waba_b, phone_number_id=phone_b)
    return {"object": "whatsapp_business_account", "entry": first["entry"] + second["entry"]}


def create_key(env: dict[str, str], organization: str) -> str:
    result = run_wapipe(env, "apikeys", "create", "--org", organization, "--json")
    assert result.returncode == 0, result.stderr
    key: str = json.loads(result.stdout)["key"]
    return key


def seed_connection(database_url: str, waba_id: str, organization: str) -> None:
    """The connection onboarding leaves behind (that flow is another issue's)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO connection (waba_id, organization_id, owner_business_id, status,"
            " status_at, status_source) VALUES (%s, %s, %s, 'active', now(), 'seed')",
            (waba_id, organization, f"biz-{waba_id}"),
        )


def messages_of(client: httpx.Client, organization: str, key: str) -> httpx.Response:
    return client.get(
        f"/api/v1/organizations/{organization}/messages",
        headers={"Authorization": f"Bearer {key}"},
    )


def test_wire_format_webhooks_are_read_back_normalised_per_organization(
    make_environ: EnvironFactory, e2e_database_url: str, log_dir: Path
):
    n = unique_suffix()
    org_a, org_b = f"org-a-{n}", f"org-b-{n}"
    waba_a, waba_b = f"7100{n}", f"7200{n}"
    phone_a, phone_b = f"8100{n}", f"8200{n}"
    seed_connection(e2e_database_url, waba_a, org_a)
    seed_connection(e2e_database_url, waba_b, org_b)
    text_a = "Ol\u00e1, caf\u00e9 \u00e0s 10h? \U0001f600 <b>a/b</b> @loja"
    batched = batched_for_two_wabas(waba_a, phone_a, waba_b, phone_b, text_a)
    nul_text = shapes.message_text("before\x00after", waba_id=waba_a, phone_number_id=phone_a)
    sent = shapes.status_sent(waba_id=waba_a, phone_number_id=phone_a)
    read = shapes.status_read(
        waba_id=waba_a, phone_number_id=phone_a, wamid=sent["entry"][0]["changes"][0]["value"]
        ["statuses"][0]["id"],
    )  # fmt: skip
    bodies = [wire_bytes(payload) for payload in (batched, nul_text, read, sent)]
    # Meta's wire format: compact, non-ASCII and "/" escaped, a NUL as \u0000.
    assert b"caf\\u00e9" in bodies[0]
    assert b"\\ud83d\\ude00" in bodies[0]
    assert b"a\\/b" in bodies[0]
    assert b"\\u0000" in bodies[1]
    env = make_environ()
    key_a, key_b = create_key(env, org_a), create_key(env, org_b)

    with (
        running_ingress(env, log_dir),
        running_worker(env, log_dir, threads=2),
        httpx.Client(base_url=f"http://127.0.0.1:{env['WAPIPE_PORT']}", timeout=30.0) as client,
    ):
        for body in bodies:  # read before sent: out of order on purpose
            response = post_signed(client, body)
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "accepted"}
        wait_for_terminal_webhooks(e2e_database_url, len(bodies), timeout=PROCESSING_DEADLINE_S)

        page_a = messages_of(client, org_a, key_a)
        page_b = messages_of(client, org_b, key_b)
        forbidden = messages_of(client, org_b, key_a)
        sent_wamid = sent["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
        detail = client.get(
            f"/api/v1/organizations/{org_a}/messages/{sent_wamid}",
            headers={"Authorization": f"Bearer {key_a}"},
        )

    assert query(e2e_database_url, "SELECT DISTINCT status FROM webhook_log") == [("processed",)]
    assert page_a.status_code == 200, page_a.text
    items_a = page_a.json()["items"]
    texts = {item["wamid"]: item["text"] for item in items_a}
    message_a = batched["entry"][0]["changes"][0]["value"]["messages"][0]
    assert texts[message_a["id"]] == text_a  # non-ASCII, emoji, "/" and markup intact
    nul_wamid = nul_text["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert texts[nul_wamid] == "before\ufffdafter"
    by_wamid = {item["wamid"]: item for item in items_a}
    assert by_wamid[message_a["id"]]["direction"] == "inbound"
    assert by_wamid[message_a["id"]]["customer"]["wa_id"] == message_a["from"]
    assert by_wamid[message_a["id"]]["phone_number_id"] == phone_a
    assert by_wamid[sent_wamid]["direction"] == "outbound"
    assert by_wamid[sent_wamid]["status"] == "read"  # read arrived first; sent did not undo it
    assert page_a.json()["next"] is None

    assert page_b.status_code == 200, page_b.text
    (item_b,) = page_b.json()["items"]
    message_b = batched["entry"][1]["changes"][0]["value"]["messages"][0]
    assert "from" not in message_b  # a username-only user: no phone on the wire
    assert item_b["wamid"] == message_b["id"]
    assert item_b["customer"]["wa_id"] is None
    assert item_b["customer"]["user_id"] == message_b["from_user_id"]
    assert item_b["customer"]["username"]

    assert forbidden.status_code == 404
    assert detail.status_code == 200, detail.text
    assert [s["status"] for s in detail.json()["statuses"]] == ["sent", "read"]
