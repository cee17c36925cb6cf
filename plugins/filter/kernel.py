"""Filters for the kernel_tuning role's input checks."""

from __future__ import annotations

from ansible_collections.bizra.infra.plugins.plugin_utils.kernel import expand_cpu_list, sysctl_drift


class FilterModule:
    def filters(self):
        return {"cpu_list": expand_cpu_list, "sysctl_drift": sysctl_drift}
