"""The admin_users_drift filter (one filter per file, so ansible-doc shows its own documentation)."""

from __future__ import annotations

from ansible_collections.bizra.infra.plugins.plugin_utils.admin_users import admin_users_drift


class FilterModule:
    def filters(self):
        return {"admin_users_drift": admin_users_drift}
