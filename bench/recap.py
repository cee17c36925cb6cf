"""The per-host recap of a benchmark run, read the same way by every benchmark.

Plain ansible-playbook: its PLAY RECAP lines. bizractl (it prints its own table): the newest run's
summary.json under $BIZRA_RUNS_DIR, which has no ok/skipped counts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unr>\d+)"
                   r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def read_recap(output: str, env: dict[str, str]) -> dict[str, dict[str, int]]:
    """Host -> counts (changed, failed, unr; ok and skipped for plain runs)."""
    if "BIZRA_RUNS_DIR" in env:
        newest = max((p for p in Path(env["BIZRA_RUNS_DIR"]).iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        hosts = json.loads((newest / "summary.json").read_text())["hosts"]
        return {host: {"changed": h["changed"], "failed": h["failed"], "unr": h["unreachable"]}
                for host, h in hosts.items()}
    return {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
            for m in RECAP.finditer(ANSI.sub("", output))}
