"""Filters for validating inventory data before a role touches a host."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

try:
    from ansible_collections.bizra.infra.plugins.plugin_utils.networks import (
        invalid_networks,
        invalid_ports,
        invalid_sources,
        sources_by_family,
    )
except ImportError:  # pragma: no cover - netaddr missing on the controller
    invalid_networks = invalid_ports = invalid_sources = sources_by_family = None


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


class FilterModule:
    def filters(self):
        return {
            "invalid_networks": _invalid_networks,
            "invalid_ports": _invalid_ports,
            "invalid_sources": _invalid_sources,
            "sources_by_family": _sources_by_family,
        }
