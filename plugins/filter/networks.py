"""Filters for validating inventory data before a role touches a host."""

from __future__ import annotations

DOCUMENTATION = r"""
name: invalid_networks
author: bizra SRE
version_added: 0.1.0
short_description: The entries of a list that are not CIDR networks
description:
  - Returns the entries that are not networks with the host bits clear, of the given IP version.
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
    from ansible_collections.bizra.infra.plugins.plugin_utils.networks import invalid_networks
except ImportError:  # pragma: no cover - netaddr missing on the controller
    invalid_networks = None


def _invalid_networks(values, version=None):
    if invalid_networks is None:
        raise AnsibleFilterError("bizra.infra.invalid_networks needs the netaddr Python library on the controller")
    if not isinstance(values, list):
        raise AnsibleFilterError(f"invalid_networks expects a list, got {type(values).__name__}")
    if version not in (None, 4, 6):
        raise AnsibleFilterError(f"invalid_networks: version must be 4 or 6, got {version!r}")
    return invalid_networks(values, version)


class FilterModule:
    def filters(self):
        return {"invalid_networks": _invalid_networks}
