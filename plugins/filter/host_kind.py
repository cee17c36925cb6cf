"""The host_kind filter (one filter per file, so ansible-doc shows its own documentation)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.bizra.infra.plugins.plugin_utils.host import host_kind


def _host_kind(facts):
    try:
        return host_kind(facts)
    except ValueError as error:
        raise AnsibleFilterError(str(error)) from error


class FilterModule:
    def filters(self):
        return {"host_kind": _host_kind}
