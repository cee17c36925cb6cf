"""BGP helpers shared by the filters (controller side)."""

from __future__ import annotations

# RFC 1997 / IANA well-known communities, by the keyword FRR accepts.
WELL_KNOWN_COMMUNITIES = {
    "internet": 0x00000000,
    "graceful-shutdown": 0xFFFF0000,
    "accept-own": 0xFFFF0001,
    "route-filter-translated-v4": 0xFFFF0002,
    "route-filter-v4": 0xFFFF0003,
    "route-filter-translated-v6": 0xFFFF0004,
    "route-filter-v6": 0xFFFF0005,
    "llgr-stale": 0xFFFF0006,
    "no-llgr": 0xFFFF0007,
    "accept-own-nexthop": 0xFFFF0008,
    "blackhole": 0xFFFF029A,
    "no-export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02,
    "local-as": 0xFFFFFF03,
    "no-peer": 0xFFFFFF04,
}


def community_value(community: str) -> int | None:
    """The 32-bit value of a standard community (``65000:100`` or a keyword); None if it is not one."""
    text = str(community).strip().lower()
    if text in WELL_KNOWN_COMMUNITIES:
        return WELL_KNOWN_COMMUNITIES[text]
    high, sep, low = text.partition(":")
    if not sep or not high.isdigit() or not low.isdigit():
        return None
    if int(high) > 0xFFFF or int(low) > 0xFFFF:
        return None
    return int(high) << 16 | int(low)


def sort_communities(communities: list) -> list:
    """Communities in the order FRR keeps them (ascending value, duplicates dropped).

    bgpd stores `set community` values sorted, so rendering them in that order makes frr.conf
    equal to the running config and keeps frr-reload.py from re-sending the line on every reload.
    Entries that are not standard communities keep their place after the sorted ones.
    """
    known = sorted({community_value(c): str(c) for c in communities if community_value(c) is not None}.items())
    unknown = [str(c) for c in communities if community_value(c) is None]
    return [text for _value, text in known] + unknown


def invalid_communities(communities: list) -> list:
    """The entries that are not standard communities."""
    return [c for c in communities if community_value(c) is None]
