"""Filters for the kernel_tuning role's input checks."""

from __future__ import annotations

DOCUMENTATION = r"""
name: cpu_list
author: bizra SRE
version_added: 0.1.0
short_description: Expand a kernel CPU list
description:
  - Turns a CPU list as the kernel writes it (C(2-4,7)) into the sorted CPU numbers.
  - Returns C(None) for text that is not a CPU list, so a role can name the bad value.
  - "The same file provides C(sysctl_drift): the keys of a wanted sysctl dict whose live value
    (second argument, as read from /proc/sys) differs, whitespace-normalized."
options:
  _input:
    description: The CPU list.
    type: str
    required: true
"""

EXAMPLES = r"""
- ansible.builtin.assert:
    that: kernel_tuning_isolated_cpus | bizra.infra.cpu_list is not none
"""

RETURN = r"""
_value:
  description: CPU numbers, or None.
  type: list
"""

from ansible_collections.bizra.infra.plugins.plugin_utils.kernel import expand_cpu_list, sysctl_drift


class FilterModule:
    def filters(self):
        return {"cpu_list": expand_cpu_list, "sysctl_drift": sysctl_drift}
