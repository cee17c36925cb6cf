"""ansible-core 2.18 beside the project's 2.19, for the benchmarks that compare them (issue 18).

The ansible 11 bundle (ansible-core 2.18 and the community collections of that release), Mitogen
and netaddr, pinned as pyproject.toml pins them, in a venv of its own under .cache/bench, made on
first use. Its ansible-playbook reads the same ansible.cfg (Mitogen's linear strategy, this
checkout's collection).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".cache" / "bench" / "venv-ansible-11"
PACKAGES = ["ansible>=11,<12", "mitogen>=0.3.54,<0.4", "netaddr>=1.0,<2"]
NAME = "ansible-playbook, ansible.cfg (mitogen_linear), ansible-core 2.18"


class SetupError(SystemExit):
    """The venv could not be made: a bench that needs it stops with the reason (per_task.py reports it)."""


def ansible_playbook() -> Path:
    """The venv's ansible-playbook, the venv made and installed once."""
    bin_dir = VENV / "bin"
    if not (bin_dir / "ansible-playbook").exists():
        for argv in ([sys.executable, "-m", "venv", str(VENV)],
                     [str(bin_dir / "pip"), "install", "-q", *PACKAGES]):
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SetupError(f"{' '.join(argv[:4])} failed: {(done.stderr or done.stdout)[-1000:]}")
    return bin_dir / "ansible-playbook"
