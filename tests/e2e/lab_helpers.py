"""Run the real `bizractl` binary and read what its runs recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIZRACTL = Path(sys.executable).parent / "bizractl"


@dataclass
class Result:
    code: int
    output: str
    run_dir: Path | None

    @property
    def summary(self) -> dict:
        assert self.run_dir is not None, self.output
        return json.loads((self.run_dir / "summary.json").read_text())


class Bizractl:
    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir

    def __call__(self, *args: str, env: dict | None = None, timeout: int = 1800) -> Result:
        before = set(self.runs_dir.iterdir()) if self.runs_dir.is_dir() else set()
        proc = subprocess.run(
            [str(BIZRACTL), "--project", str(ROOT), *args], capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "BIZRA_RUNS_DIR": str(self.runs_dir), **(env or {})}, check=False,
        )
        new = sorted(p for p in set(self.runs_dir.iterdir()) - before if p.is_dir() and not p.name.startswith(".")) \
            if self.runs_dir.is_dir() else []
        return Result(proc.returncode, proc.stdout + proc.stderr, new[-1] if new else None)



def lab_ssh(bizractl: Bizractl, host: str, command: str) -> str:
    result = bizractl("lab", "ssh", host, command)
    assert result.code == 0, result.output
    return result.output
