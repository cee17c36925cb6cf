"""Filters for the influxdb role: checks of the declared continuous queries."""

from __future__ import annotations

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
