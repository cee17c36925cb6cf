import pytest

from plugins.plugin_utils.networks import (
    invalid_networks,
    invalid_ports,
    invalid_sources,
    is_network,
    is_source,
    sources_by_family,
)


@pytest.mark.parametrize(
    ("value", "version", "expected"),
    [
        ("203.0.113.0/24", 4, True),
        ("203.0.113.5/24", 4, False),  # host bits set
        ("203.0.113.0", 4, False),  # no prefix length
        ("2001:db8::/32", 6, True),
        ("2001:db8::/32", 4, False),
        ("203.0.113.0/24", 6, False),
        ("300.1.1.0/24", None, False),
        ("not-a-prefix", None, False),
        ("10.0.0.0/8", None, True),
    ],
)
def test_is_network(value, version, expected):
    assert is_network(value, version) is expected


def test_invalid_networks_keeps_order():
    assert invalid_networks(["192.0.2.0/24", "192.0.2.1/24", "bad", "198.51.100.0/25"], 4) == ["192.0.2.1/24", "bad"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("192.0.2.7", True), ("192.0.2.0/24", True), ("192.0.2.7/24", False), ("2001:db8::1", True),
     ("2001:db8::/64", True), ("0.0.0.0/0", True), ("::/0", True), ("192.0.2.300", False), ("any", False)],
)
def test_is_source(value, expected):
    assert is_source(value) is expected


def test_sources_by_family_normalises_and_sorts():
    assert sources_by_family(["198.51.100.9", "2001:db8::/64", "192.0.2.0/24", "198.51.100.9/32", "bad"]) == {
        "ipv4": ["192.0.2.0/24", "198.51.100.9/32"],
        "ipv6": ["2001:db8::/64"],
    }
    assert invalid_sources(["192.0.2.0/24", "192.0.2.1/24", "x"]) == ["192.0.2.1/24", "x"]


def test_invalid_ports():
    assert invalid_ports([22, "443", "8000-8100", 0, 65536, "9000-8000", "http", True, "1-65535"]) == [
        0, 65536, "9000-8000", "http", True]
