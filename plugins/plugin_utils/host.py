"""What kind of machine a host is, from its gathered facts (controller side)."""

from __future__ import annotations

from collections.abc import Mapping

# systemd-detect-virt's and Ansible's names for the container engines a role cannot tune
# the kernel of.
CONTAINER_TYPES = frozenset({"container", "docker", "podman", "lxc", "systemd-nspawn", "containerd", "openvz", "wsl"})


def host_kind(facts: Mapping) -> str:
    """'container', 'vm' or 'metal'. Needs the 'virtual' fact subset."""
    if "virtualization_role" not in facts or "virtualization_type" not in facts:
        raise ValueError("host_kind needs the virtualization_role and virtualization_type facts "
                         "(gather_subset: virtual)")
    if facts["virtualization_role"] != "guest":
        return "metal"
    return "container" if facts["virtualization_type"] in CONTAINER_TYPES else "vm"
