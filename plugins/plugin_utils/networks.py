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
