"""POST /webhooks/whatsapp and the GET handshake on real Postgres and Redis (SPEC §4, §5, §13)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from runtime.settings import Settings
from tests.builders import envelope, sign, text_message, unique_suffix, wire_bytes
from tests.integration.ingress.harness import (
    WEBHOOK_PATH,
    LogWatch,
    post_signed,
    received,
    running_ingress,
    wait_for_a_fresh_rate_limit_window,
)

pytestmark = pytest.mark.anyio

SMALL_LIMIT = 1024
VERIFY_TOKEN = "verify-token-for-tests"  # what tests/conftest.py configures


@pytest.fixture
async def small_ingress(
    make_settings: Callable[..., Settings], log: LogWatch
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_ingress(make_settings(MAX_BODY_BYTES=str(SMALL_LIMIT))) as client:
        yield client


class CountingStream:
    """A request body sent as ``count`` chunks (no Content-Length), recording how many the
    server pulled."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk = chunk
        self.count = count
        self.pulled = 0

    @property
    def body(self) -> bytes:
        return self.chunk * self.count

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.pulled += 1
            yield self.chunk


async def test_a_signed_webhook_is_acknowledged_and_stored_byte_for_byte(ingress, log):
    body = wire_bytes(text_message())
    response = await post_signed(ingress, body)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    assert log.added() == (1, 1)
    row = log.row(body)
    assert row is not None
    assert row.body == body
    assert row.sha256 == hashlib.sha256(body).digest()
    assert row.status == "received"
    assert row.due_at is not None
    assert row.due_at > row.received_at  # the relay's lease, in case the wake-up is lost


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=not-hex",
        "sha1=0123456789abcdef0123456789abcdef01234567",
        "0" * 64,
        sign(b"another body"),
        sign(b"{}", "some-other-apps-secret"),
    ],
    ids=["absent", "empty", "non-hex", "sha1", "no-prefix", "other-body", "other-secret"],
)
async def test_a_post_without_a_valid_signature_is_refused_and_not_stored(ingress, log, header):
    body = wire_bytes(text_message())
    headers = {} if header is None else {"X-Hub-Signature-256": header}
    before = received("bad_signature")
    response = await ingress.post(WEBHOOK_PATH, content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert log.added() == (0, 0)
    assert received("bad_signature") == before + 1


async def test_a_signature_of_the_reserialised_json_is_refused(ingress, log):
    body = wire_bytes(text_message())
    reserialised = json.dumps(json.loads(body)).encode()
    response = await ingress.post(
        WEBHOOK_PATH, content=body, headers={"X-Hub-Signature-256": sign(reserialised)}
    )
    assert response.status_code == 401
    assert log.added() == (0, 0)


async def test_too_many_bad_signatures_from_one_ip_block_even_signed_posts_from_it(
    make_settings: Callable[..., Settings], log: LogWatch
):
    # The peer is a trusted proxy, so X-Forwarded-For names the client that is counted.
    settings = make_settings(BAD_SIGNATURE_LIMIT_PER_IP="3", TRUSTED_PROXIES="203.0.113.10")
    attacker = {"X-Forwarded-For": "198.51.100.66"}
    wait_for_a_fresh_rate_limit_window()
    async with running_ingress(settings) as client:
        for _ in range(3):
            response = await client.post(
                WEBHOOK_PATH, content=b"{}", headers={**attacker, "X-Hub-Signature-256": "x"}
            )
            assert response.status_code == 401
        before = received("rate_limited")

        blocked = await client.post(WEBHOOK_PATH, content=b"{}", headers=attacker)
        signed = await post_signed(client, wire_bytes(text_message()), **attacker)
        for response in (blocked, signed):
            assert response.status_code == 429
            assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert received("rate_limited") == before + 2
        assert log.added() == (0, 0)

        elsewhere = {"X-Forwarded-For": "198.51.100.67"}
        assert (
            await post_signed(client, wire_bytes(text_message()), **elsewhere)
        ).status_code == 200
        assert log.added() == (1, 1)


async def test_the_request_limit_answers_429_once_an_ip_used_its_minute(
    make_settings: Callable[..., Settings], log: LogWatch
):
    wait_for_a_fresh_rate_limit_window()
    async with running_ingress(make_settings(RATE_LIMIT_PER_IP="2")) as client:
        assert (await post_signed(client, wire_bytes(text_message()))).status_code == 200
        assert (await post_signed(client, wire_bytes(text_message()))).status_code == 200
        third = await post_signed(client, wire_bytes(text_message()))
    assert third.status_code == 429
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert log.added() == (2, 2)


async def test_a_body_over_the_limit_with_an_honest_content_length_gets_413(small_ingress, log):
    body = b'{"padding":"' + b"x" * SMALL_LIMIT + b'"}'
    before = received("too_large")
    response = await post_signed(small_ingress, body)
    assert response.request.headers["content-length"] == str(len(body))
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert received("too_large") == before + 1
    assert log.added() == (0, 0)


async def test_a_body_over_the_limit_without_content_length_gets_413_unread(small_ingress, log):
    stream = CountingStream(b"y" * 256, 64)  # 16 KiB, chunked
    response = await small_ingress.post(
        WEBHOOK_PATH, content=stream, headers={"X-Hub-Signature-256": sign(stream.body)}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    # Reading stopped at the first chunk past the limit, not at the end of the body.
    assert stream.pulled == SMALL_LIMIT // 256 + 1
    assert log.added() == (0, 0)


async def test_a_body_larger_than_its_content_length_claims_gets_413_unread(small_ingress, log):
    stream = CountingStream(b"z" * 256, 64)  # 16 KiB behind a header that claims 100 bytes
    response = await small_ingress.post(
        WEBHOOK_PATH,
        content=stream,
        headers={"Content-Length": "100", "X-Hub-Signature-256": sign(stream.body)},
    )
    assert response.request.headers["content-length"] == "100"
    assert response.status_code == 413
    assert stream.pulled == SMALL_LIMIT // 256 + 1
    assert log.added() == (0, 0)


async def test_a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not(small_ingress, log):
    body = unique_suffix().encode().ljust(SMALL_LIMIT, b"p")
    assert (await post_signed(small_ingress, body)).status_code == 200
    assert (await post_signed(small_ingress, body + b"q")).status_code == 413
    assert log.body(body) == body
    assert log.added() == (1, 1)


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b'{"object":"whatsapp_business_account","entry":[',
        b"[1,2,3]",
        b'{"object":"page","entry":[]}',
        "caf\u00e9 as latin-1".encode("latin-1"),
    ],
    ids=["text", "truncated", "array", "other-object", "not-utf8"],
)
async def test_a_signed_body_that_is_no_whatsapp_envelope_is_still_stored(ingress, log, body):
    body = body + unique_suffix().encode()
    response = await post_signed(ingress, body)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    assert log.body(body) == body


async def test_a_signed_webhook_with_an_unknown_field_is_stored(ingress, log):
    body = wire_bytes(envelope(("field_meta_invents_next_year", {"n": unique_suffix()})))
    response = await post_signed(ingress, body)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    assert log.body(body) == body


async def test_the_same_body_again_is_a_duplicate_with_no_new_row(ingress, log):
    body = wire_bytes(text_message())
    assert (await post_signed(ingress, body)).json() == {"status": "accepted"}
    before = received("duplicate")
    again = await post_signed(ingress, body)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert received("duplicate") == before + 1
    assert log.added() == (1, 1)


async def test_a_differently_written_signature_does_not_make_a_body_new(ingress, log):
    body = wire_bytes(text_message())
    await post_signed(ingress, body)
    upper = "sha256=" + sign(body).removeprefix("sha256=").upper()
    response = await ingress.post(
        WEBHOOK_PATH, content=body, headers={"X-Hub-Signature-256": upper}
    )
    assert response.json() == {"status": "duplicate"}
    assert log.added() == (1, 1)


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "42"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
        {"hub.mode": "subscribe", "hub.challenge": "42"},
        {},
    ],
    ids=["wrong-token", "wrong-mode", "no-mode", "no-token", "nothing"],
)
async def test_a_handshake_with_a_wrong_token_or_mode_is_forbidden(ingress, query):
    response = await ingress.get(WEBHOOK_PATH, params=query)
    assert response.status_code == 403
    assert "42" not in response.text


@pytest.mark.parametrize("challenge", ["1158201444", "0012", "ch\u00e4llenge-\u00df"])
async def test_the_right_handshake_echoes_the_challenge_as_plain_text(ingress, challenge):
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": challenge}
    response = await ingress.get(WEBHOOK_PATH, params=query)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == challenge


async def test_liveness_and_readiness_answer_when_everything_is_up(ingress):
    assert (await ingress.get("/healthz")).status_code == 200
    ready = await ingress.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "broker": "ok", "writers": "ok"},
    }


@pytest.mark.parametrize("declared", ["\u00b2", "-1", "1e9", "0x10", "abc"])
async def test_a_malformed_content_length_is_not_trusted_and_the_body_is_counted(
    small_ingress, log, declared
):
    stream = CountingStream(b"w" * 512, 4)  # 2 KiB against a 1 KiB limit
    headers = {
        "Content-Length": declared.encode("latin-1"),  # "\u00b2" is the byte 0xb2
        "X-Hub-Signature-256": sign(stream.body),
    }
    response = await small_ingress.post(WEBHOOK_PATH, content=stream, headers=headers)
    assert response.status_code == 413
    assert log.added() == (0, 0)
