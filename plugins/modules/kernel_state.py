#!/usr/bin/python
"""Read-only: the running kernel, its command line, sysctls, huge pages and CPU scaling."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kernel_state
short_description: Report the running kernel's state
description:
  - Reads /proc and /sys on the managed host, never changes anything (safe in check mode).
  - Used by the kernel_tuning role to decide what needs applying or a reboot, and to verify a
    boot gave the wanted kernel and command line.
options:
  sysctls:
    description: Sysctl keys to read (dotted names).
    type: list
    elements: str
    default: []
author: bizra SRE
"""

EXAMPLES = r"""
- name: Read the kernel state
  bizra.infra.kernel_state:
    sysctls: [vm.swappiness, net.core.somaxconn]
  register: kernel
"""

RETURN = r"""
release: {description: Running kernel release (uname -r)., type: str, returned: always}
cmdline: {description: The running kernel command line., type: str, returned: always}
sysctls: {description: Live values of the requested keys the kernel has, whitespace-normalized., type: dict,
          returned: always}
missing_sysctls: {description: Requested keys this kernel does not have., type: list, returned: always}
hugepages: {description: Reserved huge pages per size (2M, 1G)., type: dict, returned: always}
cpufreq: {description: "exposed, driver, governors, available_governors, energy_performance_preferences.",
          type: dict, returned: always}
boot_id: {description: This boot's id (changes on every boot)., type: str, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bizra.infra.plugins.module_utils.kernel_state import kernel_state


def main() -> None:
    module = AnsibleModule(argument_spec={"sysctls": {"type": "list", "elements": "str", "default": []}},
                           supports_check_mode=True)
    module.exit_json(changed=False, **kernel_state("/", module.params["sysctls"]))


if __name__ == "__main__":
    main()
