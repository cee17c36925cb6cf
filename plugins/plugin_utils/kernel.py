"""Kernel command line helpers (controller side)."""

from __future__ import annotations

import re

CPU_LIST = re.compile(r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$")


def expand_cpu_list(text: str) -> list[int] | None:
    """CPUs named by a kernel CPU list ("2-4,7" -> [2, 3, 4, 7]); None when it is not one.

    An empty list is valid (no CPUs); a descending range ("7-4") is not.
    """
    text = str(text).strip()
    if not text:
        return []
    if not CPU_LIST.match(text):
        return None
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        low, high = int(first), int(last or first)
        if high < low:
            return None
        cpus.update(range(low, high + 1))
    return sorted(cpus)


def normalize_sysctl(value: object) -> str:
    """Multi-value sysctls read back tab-separated: compare them as single-space strings."""
    return " ".join(str(value).split())


def sysctl_drift(wanted: dict, live: dict) -> list[str]:
    """Keys whose live value differs from the wanted one (keys the kernel lacks are not drift)."""
    return sorted(key for key, value in wanted.items()
                  if key in live and normalize_sysctl(live[key]) != normalize_sysctl(value))
