"""The generator's requests: Meta's wire format, ~2 KB, unique, signed like Meta signs."""

from __future__ import annotations

import json

import pytest

from bench.loadgen import ResponseError, parse_response_head
from bench.webhooks import WEBHOOK_PATH, BodyTemplate, RequestFactory, http_request, sign
from ingress.signature import SignatureCheck, check_signature

SECRET = "unit-test-secret"


def split_request(request: bytes) -> tuple[list[str], dict[str, str], bytes]:
    head, _, body = request.partition(b"\r\n\r\n")
    start, *header_lines = head.decode("ascii").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    return start.split(" "), headers, body


@pytest.mark.parametrize("size", [1024, 2048, 4096])
def test_a_body_has_exactly_the_size_asked_for(size: int):
    template = BodyTemplate.build("run1", size)
    assert len(template.body(0)) == size
    assert len(template.body(987_654_321)) == size


def test_a_body_is_a_whatsapp_messages_webhook_in_meta_wire_format():
    body = BodyTemplate.build("run1").body(42)
    payload = json.loads(body)
    assert payload["object"] == "whatsapp_business_account"
    change = payload["entry"][0]["changes"][0]
    assert change["field"] == "messages"
    assert change["value"]["messages"][0]["id"] == "wamid.BENCHrun1000000000042"
    assert body.isascii()
    assert b"caf\\u00e9" in body  # non-ASCII escaped as Meta does
    assert b" \\/ " in body  # and the slash
    assert b'":"' in body  # compact separators


def test_every_sequence_number_and_every_tag_gives_another_body():
    first = BodyTemplate.build("runa")
    other = BodyTemplate.build("runb")
    bodies = {first.body(n) for n in range(500)} | {other.body(n) for n in range(500)}
    assert len(bodies) == 1000


def test_a_sequence_number_too_long_for_its_field_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        BodyTemplate.build("run1").body(10**12)


def test_a_tag_that_could_break_the_json_is_refused():
    with pytest.raises(ValueError, match="letters and digits"):
        BodyTemplate.build('x"y')


def test_a_request_is_a_keep_alive_post_whose_signature_the_ingress_accepts():
    factory = RequestFactory("127.0.0.1", 8123, SECRET, "run1", 2048)
    (method, path, version), headers, body = split_request(factory.request(7))
    assert (method, path, version) == ("POST", WEBHOOK_PATH, "HTTP/1.1")
    assert headers["host"] == "127.0.0.1:8123"
    assert "connection" not in headers  # HTTP/1.1 keeps the connection open by default
    assert int(headers["content-length"]) == len(body) == 2048
    assert headers["x-hub-signature-256"] == sign(body, SECRET)
    check = check_signature((SECRET,), body, headers["x-hub-signature-256"])
    assert check is SignatureCheck.VALID


def test_a_request_signed_with_another_secret_is_rejected_by_the_ingress():
    _, headers, body = split_request(RequestFactory("h", 1, "other", "run1", 2048).request(1))
    check = check_signature((SECRET,), body, headers["x-hub-signature-256"])
    assert check is SignatureCheck.MISMATCH


def test_prebuilt_requests_are_the_requests_of_their_sequence_numbers():
    factory = RequestFactory("127.0.0.1", 8123, SECRET, "run1", 2048)
    assert factory.prebuild(10, 3) == [
        factory.request(10),
        factory.request(11),
        factory.request(12),
    ]


def test_the_factory_builds_what_the_plain_request_builder_builds():
    factory = RequestFactory("127.0.0.1", 8123, SECRET, "run1", 2048)
    body = BodyTemplate.build("run1", 2048).body(5)
    assert factory.request(5) == http_request("127.0.0.1", 8123, body, sign(body, SECRET))


def test_a_response_head_gives_its_status_and_body_length():
    head = b"HTTP/1.1 200 OK\r\ndate: x\r\nserver: uvicorn\r\ncontent-length: 23\r\n\r\n"
    assert parse_response_head(head) == (200, 23)
    head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    assert parse_response_head(head) == (503, 0)


def test_a_response_without_a_body_length_is_framed_only_when_it_has_no_body():
    assert parse_response_head(b"HTTP/1.1 204 No Content\r\n\r\n") == (204, 0)
    with pytest.raises(ResponseError, match="without Content-Length"):
        parse_response_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")


@pytest.mark.parametrize(
    "head",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
    ],
)
def test_a_malformed_response_head_is_an_error(head: bytes):
    with pytest.raises(ResponseError):
        parse_response_head(head)
