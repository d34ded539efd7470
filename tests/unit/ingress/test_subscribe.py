"""The GET handshake echoes hub.challenge only for mode=subscribe and the right verify token."""

from __future__ import annotations

import pytest

from ingress.subscribe import verify_subscription

TOKEN = "verify-token-9f2c"


def handshake(**overrides: str) -> dict[str, str]:
    query = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "1158201444"}
    query.update({f"hub.{key}": value for key, value in overrides.items()})
    return query


def test_the_right_token_and_mode_echo_the_challenge():
    assert verify_subscription(handshake(), TOKEN) == "1158201444"


@pytest.mark.parametrize("challenge", ["0012", "1e3", "a7Zq-_.~%20", " 42 ", ""])
def test_the_challenge_is_echoed_verbatim_as_a_string(challenge: str):
    assert verify_subscription(handshake(challenge=challenge), TOKEN) == challenge


@pytest.mark.parametrize("token", ["wrong", TOKEN.upper(), TOKEN + " ", TOKEN[:-1], ""])
def test_a_wrong_token_gets_nothing(token: str):
    assert verify_subscription(handshake(verify_token=token), TOKEN) is None


@pytest.mark.parametrize("mode", ["unsubscribe", "Subscribe", ""])
def test_a_wrong_mode_gets_nothing(mode: str):
    assert verify_subscription(handshake(mode=mode), TOKEN) is None


@pytest.mark.parametrize("missing", ["hub.mode", "hub.verify_token", "hub.challenge"])
def test_a_missing_parameter_gets_nothing(missing: str):
    query = handshake()
    del query[missing]
    assert verify_subscription(query, TOKEN) is None


@pytest.mark.parametrize("configured", [None, ""])
def test_without_a_configured_token_nothing_verifies(configured: str | None):
    assert verify_subscription(handshake(verify_token=""), configured) is None
    assert verify_subscription(handshake(), configured) is None


def test_a_non_ascii_token_is_compared_without_error():
    assert verify_subscription(handshake(verify_token="t\u00f6ken"), "t\u00f6ken") == "1158201444"
    assert verify_subscription(handshake(verify_token="t\u00f6ken"), TOKEN) is None
