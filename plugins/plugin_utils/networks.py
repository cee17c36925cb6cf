"""Address and prefix checks shared by the filters (controller side, netaddr)."""

from __future__ import annotations

import netaddr


def is_network(value: object, version: int | None = None) -> bool:
    """True for a CIDR network with no host bits set (203.0.113.0/24, 2001:db8::/32)."""
    text = str(value)
    if "/" not in text:
        return False
    try:
        net = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    if version is not None and net.version != version:
        return False
    return net.ip == net.network


def invalid_networks(values: list, version: int | None = None) -> list:
    """The entries of ``values`` that are not networks (of IP ``version`` when given)."""
    return [value for value in values if not is_network(value, version)]


def is_source(value: object) -> bool:
    """True for an address (203.0.113.7) or a network with no host bits set (203.0.113.0/24)."""
    text = str(value)
    if "/" in text:
        return is_network(text)
    try:
        netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    return True


def invalid_sources(values: list) -> list:
    """The entries of ``values`` that are neither addresses nor networks."""
    return [value for value in values if not is_source(value)]


def sources_by_family(values: list) -> dict[str, list[str]]:
    """Valid sources split into ``ipv4`` and ``ipv6``, in CIDR form, duplicates dropped, sorted.

    The sorted CIDR form is what nft prints back, and keeps a rendered ruleset stable.
    """
    networks = sorted({netaddr.IPNetwork(str(value)) for value in values if is_source(value)})
    return {
        "ipv4": [str(net) for net in networks if net.version == 4],
        "ipv6": [str(net) for net in networks if net.version == 6],
    }


def is_port(value: object) -> bool:
    """True for a port (443, "443") or an ascending range ("8000-8100") within 1..65535."""
    if isinstance(value, bool):
        return False
    low, sep, high = str(value).strip().partition("-")
    if not low.isdigit() or (sep and not high.isdigit()):
        return False
    first, last = int(low), int(high) if sep else int(low)
    return 1 <= first <= last <= 65535


def invalid_ports(values: list) -> list:
    """The entries of ``values`` that are not ports or port ranges."""
    return [value for value in values if not is_port(value)]
