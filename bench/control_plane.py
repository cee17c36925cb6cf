"""Control plane overhead, measured side by side with plain Ansible in one run.

  .venv/bin/python bench/control_plane.py [--rounds 3] [--host edge1]

Targets (checked, exit 1 when missed):
- `bizractl --help` under 0.5 s (median), and faster than `ansible-playbook --help`;
- `bizractl deploy base --limit HOST` on a converged lab host within 15 % of
  `ansible-playbook playbooks/base.yml --limit HOST` (same inventory, same ansible.cfg).

Rounds alternate the two commands so load on the machine hits both alike. Needs the lab up.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def compare(name: str, candidate: list[str], baseline: list[str], rounds: int) -> tuple[float, float]:
    cand, base = [], []
    for _ in range(rounds):
        cand.append(timed(candidate))
        base.append(timed(baseline))
    c, b = statistics.median(cand), statistics.median(base)
    print(f"{name:<28} bizractl {c:7.3f}s   baseline {b:7.3f}s   ratio {c / b:5.2f}")
    return c, b


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--host", default="edge1")
    args = parser.parse_args()
    failures = []

    help_c, help_b = compare("--help", [str(BIN / "bizractl"), "--help"],
                             [str(BIN / "ansible-playbook"), "--help"], max(args.rounds, 5))
    if help_c >= 0.5 or help_c >= help_b:
        failures.append(f"bizractl --help took {help_c:.3f}s (target < 0.5 s and < ansible-playbook --help)")

    deploy_c, deploy_b = compare(
        f"deploy base on {args.host}",
        [str(BIN / "bizractl"), "deploy", "base", "--limit", args.host],
        [str(BIN / "ansible-playbook"), "-i", "inventories/lab", "playbooks/base.yml", "--limit", args.host],
        args.rounds,
    )
    if deploy_c > deploy_b * 1.15:
        failures.append(f"bizractl deploy overhead {deploy_c / deploy_b - 1:.0%} (target <= 15 %)")

    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
