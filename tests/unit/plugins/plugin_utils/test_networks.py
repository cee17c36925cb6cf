import pytest

from plugins.plugin_utils.networks import invalid_networks, is_network


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
