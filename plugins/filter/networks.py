"""Filters for validating inventory data before a role touches a host."""

from __future__ import annotations

DOCUMENTATION = r"""
name: invalid_networks
author: bizra SRE
version_added: 0.1.0
short_description: The entries of a list that are not CIDR networks
description:
  - Returns the entries that are not networks with the host bits clear, of the given IP version.
  - "The same file provides C(invalid_sources) (neither an address nor a network),
    C(invalid_ports) (not a port or ascending port range in 1..65535), C(sources_by_family)
    (valid sources split into C(ipv4) and C(ipv6) lists in sorted CIDR form) and
    C(sources_containing) (the entries that contain an address)."
options:
  _input:
    description: Prefixes to check.
    type: list
    required: true
  version:
    description: 4 or 6; any version when omitted.
    type: int
"""

EXAMPLES = r"""
- ansible.builtin.assert:
    that: frr_bgp_networks_ipv4 | bizra.infra.invalid_networks(4) | length == 0
"""

RETURN = r"""
_value:
  description: The entries that are not networks.
  type: list
"""

from ansible.errors import AnsibleFilterError

try:
    from ansible_collections.bizra.infra.plugins.plugin_utils.networks import (
        invalid_networks,
        invalid_ports,
        invalid_sources,
        sources_by_family,
        sources_containing,
    )
except ImportError:  # pragma: no cover - netaddr missing on the controller
    invalid_networks = invalid_ports = invalid_sources = sources_by_family = sources_containing = None


def _need_netaddr(name):
    if invalid_networks is None:
        raise AnsibleFilterError(f"bizra.infra.{name} needs the netaddr Python library on the controller")


def _need_list(name, values):
    if not isinstance(values, list):
        raise AnsibleFilterError(f"{name} expects a list, got {type(values).__name__}")


def _invalid_networks(values, version=None):
    _need_netaddr("invalid_networks")
    _need_list("invalid_networks", values)
    if version not in (None, 4, 6):
        raise AnsibleFilterError(f"invalid_networks: version must be 4 or 6, got {version!r}")
    return invalid_networks(values, version)


def _invalid_sources(values):
    _need_netaddr("invalid_sources")
    _need_list("invalid_sources", values)
    return invalid_sources(values)


def _invalid_ports(values):
    _need_netaddr("invalid_ports")
    _need_list("invalid_ports", values)
    return invalid_ports(values)


def _sources_by_family(values):
    _need_netaddr("sources_by_family")
    _need_list("sources_by_family", values)
    return sources_by_family(values)


def _sources_containing(values, address):
    _need_netaddr("sources_containing")
    _need_list("sources_containing", values)
    return sources_containing(values, address)


class FilterModule:
    def filters(self):
        return {
            "invalid_networks": _invalid_networks,
            "invalid_ports": _invalid_ports,
            "invalid_sources": _invalid_sources,
            "sources_by_family": _sources_by_family,
            "sources_containing": _sources_containing,
        }
