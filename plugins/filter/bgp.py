"""Filters for rendering and validating BGP policy data."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bgp_community_sort
author: bizra SRE
version_added: 0.1.0
short_description: Standard BGP communities in the order FRR keeps them
description:
  - Sorts communities (C(ASN:value) or well-known keywords such as C(no-export)) by their 32-bit
    value and drops duplicates, as bgpd does, so a rendered frr.conf equals the running config.
options:
  _input:
    description: Communities.
    type: list
    required: true
"""

EXAMPLES = r"""
# ['no-export', '65000:100'] -> ['65000:100', 'no-export']
- ansible.builtin.debug:
    msg: "set community {{ ['no-export', '65000:100'] | bizra.infra.bgp_community_sort | join(' ') }}"
"""

RETURN = r"""
_value:
  description: The communities, sorted, without duplicates.
  type: list
"""

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
