"""The per-IP limits count the peer, or the client named by a chain of trusted proxies."""

from __future__ import annotations

import ipaddress

from ingress.client_ip import client_ip

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:1::/48"))


def test_without_trusted_proxies_the_peer_counts_and_forwarded_for_is_ignored():
    assert client_ip("198.51.100.7", "203.0.113.1", ()) == "198.51.100.7"


def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored():
    assert client_ip("198.51.100.7", "203.0.113.1", PROXIES) == "198.51.100.7"


def test_a_trusted_proxy_names_the_rightmost_untrusted_hop():
    forwarded = "192.0.2.66, 203.0.113.1"  # the left entry was written by the client itself
    assert client_ip("10.1.2.3", forwarded, PROXIES) == "203.0.113.1"


def test_a_chain_of_trusted_proxies_is_walked_to_the_client():
    forwarded = "192.0.2.66, 203.0.113.1, 10.9.9.9, 10.4.4.4"
    assert client_ip("10.1.2.3", forwarded, PROXIES) == "203.0.113.1"


def test_ipv6_proxies_and_clients_are_understood():
    forwarded = "2001:db8:ffff::9, 2001:db8:1::5"
    assert client_ip("2001:db8:1::1", forwarded, PROXIES) == "2001:db8:ffff::9"


def test_a_trusted_peer_without_forwarded_for_counts_as_itself():
    assert client_ip("10.1.2.3", None, PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", "", PROXIES) == "10.1.2.3"


def test_empty_entries_in_forwarded_for_are_skipped():
    assert client_ip("10.1.2.3", " , ,", PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", "203.0.113.1,, ,10.4.4.4", PROXIES) == "203.0.113.1"


def test_garbage_left_of_the_client_does_not_matter():
    forwarded = "not-an-ip, <script>, 999.1.1.1, 203.0.113.1"
    assert client_ip("10.1.2.3", forwarded, PROXIES) == "203.0.113.1"


def test_a_hop_that_is_no_address_ends_the_walk_at_the_last_real_address():
    # Whoever wrote "garbage" must not choose the name its requests are counted under.
    assert client_ip("10.1.2.3", "203.0.113.1, garbage", PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", "203.0.113.1, 10.4.4.4, x", PROXIES) == "10.1.2.3"
    assert client_ip("10.1.2.3", "203.0.113.1, garbage, 10.4.4.4", PROXIES) == "10.4.4.4"


def test_a_hop_with_a_port_is_not_taken_for_an_address():
    assert client_ip("10.1.2.3", "203.0.113.1:4711", PROXIES) == "10.1.2.3"


def test_addresses_are_counted_in_their_canonical_form():
    assert client_ip("10.1.2.3", "2001:DB8:FFFF:0:0:0:0:9", PROXIES) == "2001:db8:ffff::9"


def test_an_unknown_peer_is_counted_under_one_name():
    assert client_ip(None, "203.0.113.1", PROXIES) == "unknown"
    assert client_ip(None, None, ()) == "unknown"
