"""Filters for the prometheus role: scrape jobs from inventory groups, rule packs."""

from __future__ import annotations

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
