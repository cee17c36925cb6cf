"""Filters for rendering and validating BGP policy data."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.bizra.infra.plugins.plugin_utils.bgp import invalid_communities, sort_communities


def _bgp_community_sort(values):
    if not isinstance(values, list):
        raise AnsibleFilterError(f"bgp_community_sort expects a list, got {type(values).__name__}")
    return sort_communities(values)


def _invalid_communities(values):
    if not isinstance(values, list):
        raise AnsibleFilterError(f"invalid_communities expects a list, got {type(values).__name__}")
    return invalid_communities(values)


class FilterModule:
    def filters(self):
        return {"bgp_community_sort": _bgp_community_sort, "invalid_communities": _invalid_communities}
