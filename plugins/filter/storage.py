"""Filters for the storage role's input checks."""

from __future__ import annotations

from ansible_collections.bizra.infra.plugins.plugin_utils.storage import storage_input_errors


class FilterModule:
    def filters(self):
        return {"storage_input_errors": storage_input_errors}
