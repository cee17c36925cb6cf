"""Filters for the prometheus role: scrape jobs from inventory groups, rule packs."""

from __future__ import annotations

DOCUMENTATION = r"""
name: prometheus_scrape_configs
author: bizra SRE
version_added: 0.1.0
short_description: Prometheus scrape_configs from inventory groups
description:
  - One scrape job per entry whose inventory group has hosts; one target per host at the address
    the inventory gives, labelled C(instance) with the inventory name.
  - Jobs are dicts with name, group, port and optional path, scheme, interval, timeout, params,
    enabled. Invalid jobs raise an error naming the job and the problem.
options:
  _input:
    description: The job list (C(prometheus_scrape_jobs)).
    type: list
    required: true
  groups:
    description: Inventory groups (C(groups)).
    type: dict
    required: true
  addresses:
    description: Inventory name to address.
    type: dict
    required: true
"""

EXAMPLES = r"""
scrape_configs: "{{ prometheus_scrape_jobs | bizra.infra.prometheus_scrape_configs(groups, addresses) }}"
"""

RETURN = r"""
_value:
  description: Prometheus scrape_configs entries.
  type: list
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.bizra.infra.plugins.plugin_utils.prometheus import job_errors, rule_pack, scrape_configs


def prometheus_scrape_configs(jobs, groups, addresses):
    try:
        return scrape_configs(jobs, groups, addresses)
    except ValueError as exc:
        raise AnsibleFilterError(f"prometheus_scrape_jobs: {exc}") from None


def prometheus_job_errors(jobs):
    return job_errors(jobs)


def prometheus_rule_pack(text, for_override=""):
    try:
        return rule_pack(text, for_override)
    except ValueError as exc:
        raise AnsibleFilterError(f"prometheus_alert_for_override: {exc}") from None


class FilterModule:
    def filters(self):
        return {
            "prometheus_scrape_configs": prometheus_scrape_configs,
            "prometheus_job_errors": prometheus_job_errors,
            "prometheus_rule_pack": prometheus_rule_pack,
        }
