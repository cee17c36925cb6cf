"""Filter for the postgresql role: settings sized from the host."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pg_tuned_settings
author: bizra SRE
version_added: 0.1.0
short_description: PostgreSQL memory and parallelism settings for a host
description:
  - Derives shared_buffers (1/4 of memory), effective_cache_size (3/4), maintenance_work_mem
    (1/16, at most 2GB), work_mem (memory left after shared_buffers over three sort nodes per
    connection, at least 4MB) and the worker counts from the host's cores.
  - Any value is overridden by the role's C(postgresql_settings).
options:
  _input:
    description: Memory in MB (C(ansible_memtotal_mb)).
    type: int
    required: true
  vcpus:
    description: CPU count (C(ansible_processor_vcpus)).
    type: int
    required: true
  max_connections:
    description: The max_connections the host will run with.
    type: int
    default: 100
"""

EXAMPLES = r"""
postgresql_derived: "{{ ansible_memtotal_mb | bizra.infra.pg_tuned_settings(ansible_processor_vcpus, 200) }}"
"""

RETURN = r"""
_value:
  description: Setting name to value, in PostgreSQL's units.
  type: dict
"""

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
