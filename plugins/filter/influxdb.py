"""Filters for the influxdb role: checks of the declared continuous queries."""

from __future__ import annotations

DOCUMENTATION = r"""
name: influxdb_cq_errors
author: bizra SRE
version_added: 0.1.0
short_description: What is wrong with a declared continuous query
description:
  - Messages naming the continuous query and the bad key (empty when it is fine).
  - C(influxdb_cq_policy_errors) takes a (database, query) pair and checks that the query's
    source and target are retention policies of that database.
options:
  _input:
    description: A continuous query dict (name, source, target, every...).
    type: dict
    required: true
"""

EXAMPLES = r"""
errors: "{{ influxdb_databases | subelements('continuous_queries') | map('last') | map('bizra.infra.influxdb_cq_errors') | flatten }}"
"""

RETURN = r"""
_value:
  description: Error messages.
  type: list
"""

from ansible_collections.bizra.infra.plugins.module_utils.influxdb1 import cq_errors, influxql_string


def influxdb_cq_errors(cq):
    return cq_errors(cq)


def influxdb_cq_policy_errors(pair):
    database, cq = pair
    policies = {rp.get("name") for rp in database.get("retention_policies", []) if isinstance(rp, dict)}
    return [
        f"continuous query {cq.get('name')!r} of {database.get('name')!r}: {key} {cq.get(key)!r} is not one of "
        f"its retention policies ({', '.join(sorted(p for p in policies if p))})"
        for key in ("source", "target") if isinstance(cq, dict) and cq.get(key) not in policies
    ]


class FilterModule:
    def filters(self):
        return {"influxdb_cq_errors": influxdb_cq_errors, "influxdb_cq_policy_errors": influxdb_cq_policy_errors,
                "influxql_string": influxql_string}
