"""Read the running kernel's state from /proc and /sys (runs on the managed host).

Pure functions over a root directory, so they are tested against a fake tree.
"""

from __future__ import annotations

import os
import re

SIZE_KB = {"2M": 2048, "1G": 1048576}


def sysctl_path(root: str, key: str) -> str:
    # net.ipv4.conf.eth0/1.rp_filter style keys keep their "/" in the name; dots are separators.
    return os.path.join(root, "proc", "sys", *key.split("."))


def normalize(value: object) -> str:
    """Multi-value sysctls read back tab-separated: compare them as single-space strings."""
    return " ".join(str(value).split())


def read_sysctls(root: str, keys: list[str]) -> tuple[dict[str, str], list[str]]:
    """Live values of the keys this kernel has, and the keys it does not have."""
    present, missing = {}, []
    for key in keys:
        try:
            with open(sysctl_path(root, key), encoding="utf-8") as handle:
                present[key] = normalize(handle.read())
        except FileNotFoundError:
            missing.append(key)
        except PermissionError:
            present[key] = ""  # write-only keys (e.g. vm.drop_caches): present, value unknown
    return present, missing


def read_text(root: str, *parts: str) -> str:
    try:
        with open(os.path.join(root, *parts), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def hugepages(root: str) -> dict[str, int]:
    """Reserved huge pages per page size, keyed 2M / 1G."""
    result = {}
    base = os.path.join(root, "sys", "kernel", "mm", "hugepages")
    for size, kb in SIZE_KB.items():
        text = read_text(base, f"hugepages-{kb}kB", "nr_hugepages")
        if text:
            result[size] = int(text)
    return result


def cpufreq(root: str) -> dict:
    """What CPU frequency scaling the host exposes; nothing in most VMs."""
    cpu_dir = os.path.join(root, "sys", "devices", "system", "cpu")
    policies = sorted(p for p in os.listdir(cpu_dir) if re.fullmatch(r"cpu[0-9]+", p)) \
        if os.path.isdir(cpu_dir) else []
    governors, epps = set(), set()
    for cpu in policies:
        governor = read_text(cpu_dir, cpu, "cpufreq", "scaling_governor")
        if governor:
            governors.add(governor)
        epp = read_text(cpu_dir, cpu, "cpufreq", "energy_performance_preference")
        if epp:
            epps.add(epp)
    return {
        "exposed": bool(governors),
        "driver": read_text(cpu_dir, "cpu0", "cpufreq", "scaling_driver"),
        "governors": sorted(governors),
        "available_governors": read_text(cpu_dir, "cpu0", "cpufreq", "scaling_available_governors").split(),
        "energy_performance_preferences": sorted(epps),
    }


def kernel_state(root: str, sysctl_keys: list[str]) -> dict:
    values, missing = read_sysctls(root, sysctl_keys)
    return {
        "release": os.uname().release if root == "/" else read_text(root, "proc", "sys", "kernel", "osrelease"),
        "cmdline": read_text(root, "proc", "cmdline"),
        "sysctls": values,
        "missing_sysctls": missing,
        "hugepages": hugepages(root),
        "cpufreq": cpufreq(root),
        "boot_id": read_text(root, "proc", "sys", "kernel", "random", "boot_id"),
    }
