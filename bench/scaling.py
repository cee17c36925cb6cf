"""How the cost of a no-op converge grows with the fleet: the base layer on N light lab hosts.

  .venv/bin/python bench/scaling.py [--sizes 4,8,16,32] [--rounds 3] [--keep] [--with-pinning] [--core-218]

Starts max(sizes) light lab hosts (systemd containers with nothing but the base layer, in their
own lab `bench-scale` on 10.89.91.0/24; `lab up` raises fs.inotify.max_user_instances for them),
converges `playbooks/base.yml` on all of them once, then times the no-op base layer on the first N
hosts (`--limit`) for each N, for each configuration, interleaved round by round:
- baseline: plain ansible-playbook with ansible-core's own linear strategy;
- plain ansible-playbook with ansible.cfg as it is (Mitogen's linear strategy);
- `bizractl deploy base.yml` (the same ansible.cfg through ansible-runner);
- with --with-pinning: ansible.cfg with Mitogen's own CPU affinity (BIZRA_MITOGEN_AFFINITY=mitogen,
  until 2026-12-07);
- with --core-218: ansible.cfg as it is on ansible-core 2.18 (bench/core218.py).
Every run must change nothing on every host it touched (recap read, like site_noop.py).

Prints seconds against N, the per-host slope of each configuration (least squares over N), the
controller CPU time per host, and the fleet size at which one controller's no-op base layer passes
10 minutes at that slope. The lab is removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import core218
from recap import ANSI, read_recap

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK = ROOT / ".cache" / "bench" / "scaling"
SUBNET_PREFIX = "10.89.91"  # a subnet no Molecule scenario uses
WINDOW_SECONDS = 600


def host_name(number: int) -> str:
    return f"scale{number:02d}"


def write_inventory(count: int) -> Path:
    """A lab inventory of `count` hosts with the lab's own base-layer values (inventories/lab)."""
    hosts = {host_name(n): {"ansible_host": f"{SUBNET_PREFIX}.{10 + n}"} for n in range(1, count + 1)}
    lab_vars = {
        "lab_name": "bench-scale",
        "lab_network_name": "bizra-bench-scale",
        "lab_network_subnet": f"{SUBNET_PREFIX}.0/24",
        "lab_network_gateway": f"{SUBNET_PREFIX}.1",
        "lab_home": "{{ lookup('ansible.builtin.env', 'BIZRA_LAB_HOME') or "
                    "(lookup('ansible.builtin.env', 'HOME') ~ '/.local/share/bizra/lab') }}",
        "ansible_user": "root",
        "ansible_ssh_private_key_file": "{{ lab_home }}/ssh/id_ed25519",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        "ansible_host_key_checking": False,
        "base_timezone": "UTC",
        "base_chrony_control_clock": False,
        "base_admin_users": [{"name": "sre", "comment": "Lab SRE", "ssh_keys": [
            "{{ lookup('ansible.builtin.file', lab_home ~ '/ssh/id_ed25519.pub') }}"]}],
    }
    directory = WORK / "inventory"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hosts.yml"
    # JSON is YAML: no YAML writer needed for a generated file.
    path.write_text(json.dumps({"all": {"hosts": hosts, "vars": lab_vars}}, indent=1) + "\n")
    return path


def run(argv: list[str], env: dict[str, str], expect_noop: bool = True) -> tuple[float, float, dict]:
    """Wall time, controller CPU time (children) and the recap of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env={**os.environ, "ANSIBLE_NOCOLOR": "1", **env},
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = ANSI.sub("", done.stdout + done.stderr)
    recap = read_recap(output, env)
    dirty = {h: r for h, r in recap.items() if r["failed"] or r["unr"] or (expect_noop and r["changed"])}
    if done.returncode != 0 or dirty or not recap:
        raise SystemExit(f"{' '.join(argv[:3])}: not a clean {'no-op' if expect_noop else 'run'} "
                         f"(rc {done.returncode}, {dirty}):\n{output[-2000:]}")
    return elapsed, cpu, recap


def slope(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares line through (N, seconds): per-host slope and intercept."""
    mean_n = statistics.fmean(n for n, _ in points)
    mean_s = statistics.fmean(s for _, s in points)
    per_host = (sum((n - mean_n) * (s - mean_s) for n, s in points)
                / sum((n - mean_n) ** 2 for n, _ in points))
    return per_host, mean_s - per_host * mean_n


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="4,8,16,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the bench lab running")
    parser.add_argument("--with-pinning", action="store_true",
                        help="add ansible.cfg with Mitogen's own CPU affinity (as until 2026-12-07)")
    parser.add_argument("--core-218", action="store_true", help="add ansible.cfg on ansible-core 2.18")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s})
    if len(sizes) < 2 or sizes[-1] > 200:
        raise SystemExit("--sizes needs at least two fleet sizes, each at most 200")
    inventory = write_inventory(sizes[-1])
    ansible_cfg = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_HOST_KEY_CHECKING": "False"}
    subprocess.run([str(BIN / "bizractl"), "lab", "up", "-i", str(inventory)], cwd=ROOT, check=True)
    try:
        plain = [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/base.yml"]
        first, _, _ = run(plain, ansible_cfg, expect_noop=False)
        print(f"base layer converged on {sizes[-1]} hosts in {first:.0f} s", flush=True)
        with tempfile.TemporaryDirectory(prefix="bizra-bench-runs-") as runs:
            candidates = {
                "baseline: ansible-playbook, ansible-core linear": (
                    plain, {**ansible_cfg, "ANSIBLE_STRATEGY": "linear"}),
                "ansible-playbook, ansible.cfg (mitogen_linear)": (plain, ansible_cfg),
                "bizractl deploy, ansible.cfg": (
                    [str(BIN / "bizractl"), "deploy", "-i", str(inventory), "base.yml"],
                    {"BIZRA_RUNS_DIR": runs, "ANSIBLE_HOST_KEY_CHECKING": "False"}),
            }
            if args.with_pinning:
                candidates["ansible-playbook, ansible.cfg with Mitogen's CPU affinity"] = (
                    plain, {**ansible_cfg, "BIZRA_MITOGEN_AFFINITY": "mitogen"})
            if args.core_218:
                candidates[core218.NAME] = ([str(core218.ansible_playbook()), *plain[1:]], ansible_cfg)
            walls: dict[tuple[str, int], list[float]] = {}
            cpus: dict[tuple[str, int], list[float]] = {}
            tasks: dict[int, int] = {}
            for argv, env in candidates.values():  # warm-up on the whole fleet
                run(argv, env)
            for _ in range(args.rounds):
                for size in sizes:
                    limit = ["--limit", ",".join(host_name(n) for n in range(1, size + 1))]
                    for name, (argv, env) in candidates.items():
                        wall, cpu, recap = run(argv + limit, env)
                        if len(recap) != size:
                            raise SystemExit(f"{name}: ran on {len(recap)} hosts, not {size}")
                        walls.setdefault((name, size), []).append(wall)
                        cpus.setdefault((name, size), []).append(cpu)
                        one_host = next(iter(recap.values()))
                        if "ok" in one_host:  # plain runs' recap (bizractl's summary has no ok/skipped)
                            tasks[size] = one_host["ok"] + one_host["skipped"]
                        print(f"  {name} N={size}: {wall:.1f} s", flush=True)
    finally:
        if not args.keep:
            subprocess.run([str(BIN / "bizractl"), "lab", "down", "-i", str(inventory)], cwd=ROOT, check=False)

    print(f"\nno-op base layer ({tasks.get(sizes[-1], '?')} tasks a host) on N light lab hosts, "
          f"median of {args.rounds} interleaved rounds, seconds")
    print("| configuration | " + " | ".join(f"N={n}" for n in sizes)
          + " | s per host (slope) | controller CPU s per host | N at 10 min |")
    print("|---|" + "---:|" * (len(sizes) + 3))
    slopes = {}
    for name in candidates:
        medians = [statistics.median(walls[(name, n)]) for n in sizes]
        per_host, intercept = slope(list(zip(sizes, medians, strict=True)))
        cpu_per_host, _ = slope([(n, statistics.median(cpus[(name, n)])) for n in sizes])
        slopes[name] = per_host
        at_window = int((WINDOW_SECONDS - intercept) / per_host) if per_host > 0 else 0
        print(f"| {name} | " + " | ".join(f"{m:.1f}" for m in medians)
              + f" | {per_host:.2f} | {cpu_per_host:.2f} | {at_window} |")
    plain_slope = slopes["ansible-playbook, ansible.cfg (mitogen_linear)"]
    wrapped_slope = slopes["bizractl deploy, ansible.cfg"]
    print(f"\nbizractl slope against plain ansible-playbook: {wrapped_slope / plain_slope - 1:+.1%}"
          f"; ansible.cfg slope: {plain_slope:.2f} s per host (issue 18 target: <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
