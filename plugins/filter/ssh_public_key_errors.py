"""The ssh_public_key_errors filter (one filter per file, so ansible-doc shows its own documentation)."""

from __future__ import annotations

from ansible_collections.bizra.infra.plugins.plugin_utils.ssh_keys import ssh_public_key_errors


class FilterModule:
    def filters(self):
        return {"ssh_public_key_errors": ssh_public_key_errors}
