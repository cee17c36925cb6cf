import pytest

from plugins.plugin_utils.bgp import community_value, invalid_communities, sort_communities


@pytest.mark.parametrize(
    ("community", "value"),
    [("65000:100", 0xFDE80064), ("no-export", 0xFFFFFF01), ("NO-EXPORT", 0xFFFFFF01),
     ("graceful-shutdown", 0xFFFF0000), ("0:0", 0), ("65536:1", None), ("65000", None), ("abc:1", None)],
)
def test_community_value(community, value):
    assert community_value(community) == value


def test_sort_matches_what_bgpd_shows():
    # bgpd shows `set community no-export 65000:100` back as `65000:100 no-export`
    assert sort_communities(["no-export", "65000:100"]) == ["65000:100", "no-export"]
    assert sort_communities(["no-advertise", "graceful-shutdown", "64512:20", "64512:3", "64512:20"]) == [
        "64512:3", "64512:20", "graceful-shutdown", "no-advertise"]


def test_invalid_communities():
    assert invalid_communities(["65000:100", "65000:70000", "bogus"]) == ["65000:70000", "bogus"]
