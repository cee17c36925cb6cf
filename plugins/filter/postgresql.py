"""Filter for the postgresql role: settings sized from the host."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.bizra.infra.plugins.plugin_utils.postgresql import tuned_settings


def pg_tuned_settings(memtotal_mb, vcpus, max_connections=100):
    try:
        return tuned_settings(memtotal_mb, vcpus, max_connections)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"pg_tuned_settings: {exc}") from None


class FilterModule:
    def filters(self):
        return {"pg_tuned_settings": pg_tuned_settings}
