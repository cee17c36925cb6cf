"""Prometheus configuration from inventory data: scrape jobs from groups, rule packs."""

from __future__ import annotations

import copy
import re

JOB_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
JOB_KEYS = {"name", "group", "port", "path", "scheme", "interval", "timeout", "params", "enabled"}


def job_errors(jobs) -> list[str]:
    """What is wrong with a list of scrape jobs, one message per problem (empty: fine)."""
    if not isinstance(jobs, list):
        return [f"must be a list of jobs, got {type(jobs).__name__}"]
    errors, seen = [], set()
    for index, job in enumerate(jobs):
        if not isinstance(job, dict):
            errors.append(f"entry {index} is not a dict: {job!r}")
            continue
        name = job.get("name")
        label = f"job {name!r}" if name else f"entry {index}"
        if not isinstance(name, str) or not JOB_NAME.match(name):
            errors.append(f"{label}: name must match {JOB_NAME.pattern}")
        elif name in seen:
            errors.append(f"{label}: defined twice")
        seen.add(name)
        unknown = set(job) - JOB_KEYS
        if unknown:
            errors.append(f"{label}: unknown keys {sorted(unknown)} (allowed: {sorted(JOB_KEYS)})")
        if not isinstance(job.get("group"), str) or not job.get("group"):
            errors.append(f"{label}: group (an inventory group) is required")
        port = job.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            errors.append(f"{label}: port {port!r} is not in 1..65535")
        if job.get("scheme", "http") not in ("http", "https"):
            errors.append(f"{label}: scheme {job.get('scheme')!r} is not http or https")
        path = job.get("path", "/metrics")
        if not isinstance(path, str) or not path.startswith("/"):
            errors.append(f"{label}: path {path!r} must start with /")
        for key in ("interval", "timeout"):
            if key in job and not DURATION.match(str(job[key])):
                errors.append(f"{label}: {key} {job[key]!r} is not a Prometheus duration (15s, 1m)")
    return errors


def scrape_configs(jobs, groups: dict, addresses: dict) -> list[dict]:
    """scrape_configs for the jobs whose inventory group has hosts: one target per host, at the
    address the inventory gives, labelled instance=<inventory name> so alerts name hosts."""
    errors = job_errors(jobs)
    if errors:
        raise ValueError("; ".join(errors))
    configs = []
    for job in jobs:
        if not job.get("enabled", True):
            continue
        hosts = sorted(groups.get(job["group"], []))
        if not hosts:
            continue
        config = {"job_name": job["name"], "metrics_path": job.get("path", "/metrics"),
                  "scheme": job.get("scheme", "http")}
        if "interval" in job:
            config["scrape_interval"] = str(job["interval"])
        if "timeout" in job:
            config["scrape_timeout"] = str(job["timeout"])
        if job.get("params"):
            config["params"] = job["params"]
        config["static_configs"] = [
            {"targets": [f"{format_host(addresses.get(host) or host)}:{job['port']}"], "labels": {"instance": host}}
            for host in hosts
        ]
        configs.append(config)
    return configs


def format_host(address: str) -> str:
    return f"[{address}]" if ":" in str(address) else str(address)


def rule_pack(text: str, for_override: str = "") -> dict:
    """A rule file's content, with every alert's `for` replaced by for_override when given (a lab
    that must see an alert within seconds)."""
    import yaml

    pack = yaml.safe_load(text)
    if not for_override:
        return pack
    if not DURATION.match(str(for_override)):
        raise ValueError(f"for override {for_override!r} is not a Prometheus duration")
    pack = copy.deepcopy(pack)
    for group in pack.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule and "for" in rule:
                rule["for"] = str(for_override)
    return pack
