"""site.yml on the converged lab fleet, a no-op: configuration against configuration, in one run.

  .venv/bin/python bench/site_noop.py [--rounds 3] [--with-pinning] [--core-218] [--overhead-only]

Needs the lab up and converged (`make deploy`). Each round runs, one after the other:
- baseline: plain ansible-playbook with ansible-core's own linear strategy (the configuration
  before Mitogen: the same ansible.cfg with ANSIBLE_STRATEGY=linear);
- ansible.cfg as it is (Mitogen's linear strategy), plain ansible-playbook;
- `bizractl deploy site` (the same ansible.cfg through ansible-runner);
- the preview: plain `ansible-playbook --check --diff`, and `bizractl plan site`;
- with --with-pinning: ansible.cfg with Mitogen's own CPU affinity (BIZRA_MITOGEN_AFFINITY=mitogen:
  what ran until 2026-12-07, every Ansible process but Mitogen's multiplexer on one CPU of two);
- with --core-218: ansible.cfg as it is on ansible-core 2.18 (bench/core218.py), plain
  ansible-playbook: issue 18's open question (per_task.py measured 2.19's templating slower on a
  synthetic play).
--overhead-only leaves out the baseline and the task budget (bizractl against plain only).
Rounds interleave the configurations so load on the machine hits all alike. Every run must change
nothing (the recap is read; for a preview: nothing to change): a run that changes something is not
a no-op, and the bench stops naming it.

Prints the median wall time and the ratio to the baseline (target 1 of issue 18: <= 0.5), the
bizractl overhead against plain ansible-playbook on the same configuration (target <= 2 %), and
the task budget: tasks ok and skipped per host, and per role (from one more, untimed run with the
bench-only callback bench/callback/task_budget.py; tasks the shared role runs for another role
count under common).
"""

from __future__ import annotations

import argparse
import json
import os
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
BASELINE = "baseline: ansible-playbook, ansible-core linear"
PLAIN = "ansible-playbook, ansible.cfg (mitogen_linear)"
WRAPPED = "bizractl deploy site, ansible.cfg"
PLAIN_PREVIEW = "ansible-playbook --check --diff, ansible.cfg"
WRAPPED_PREVIEW = "bizractl plan site, ansible.cfg"


def run(name: str, argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, dict[str, int]]]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env={**os.environ, "ANSIBLE_NOCOLOR": "1", **env},
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    output = ANSI.sub("", done.stdout + done.stderr)
    recap = read_recap(output, env)
    changed = {host: r["changed"] for host, r in recap.items() if r["changed"] or r["failed"] or r["unr"]}
    if done.returncode != 0 or changed or not recap:
        raise SystemExit(f"{name}: not a clean no-op (rc {done.returncode}, changed/failed {changed}):\n"
                         f"{output[-2000:]}")
    return elapsed, recap


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--with-pinning", action="store_true",
                        help="add ansible.cfg with Mitogen's own CPU affinity (as until 2026-12-07)")
    parser.add_argument("--core-218", action="store_true", help="add ansible.cfg on ansible-core 2.18")
    parser.add_argument("--overhead-only", action="store_true",
                        help="bizractl against plain ansible-playbook only: no baseline, no task budget")
    args = parser.parse_args()
    ansible_cfg = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    site = ["-i", "inventories/lab", "playbooks/site.yml"]
    playbook = str(BIN / "ansible-playbook")
    with tempfile.TemporaryDirectory(prefix="bizra-bench-runs-") as runs:
        bizractl = {"BIZRA_RUNS_DIR": runs}
        candidates = {
            BASELINE: ([playbook, *site], {**ansible_cfg, "ANSIBLE_STRATEGY": "linear"}),
            PLAIN: ([playbook, *site], ansible_cfg),
            WRAPPED: ([str(BIN / "bizractl"), "deploy", "site"], bizractl),
            PLAIN_PREVIEW: ([playbook, *site, "--check", "--diff"], ansible_cfg),
            WRAPPED_PREVIEW: ([str(BIN / "bizractl"), "plan", "site"], bizractl),
        }
        if args.overhead_only:
            del candidates[BASELINE]
        if args.with_pinning:
            candidates["ansible-playbook, ansible.cfg with Mitogen's CPU affinity"] = (
                [playbook, *site], {**ansible_cfg, "BIZRA_MITOGEN_AFFINITY": "mitogen"})
        if args.core_218:
            candidates[core218.NAME] = ([str(core218.ansible_playbook()), *site], ansible_cfg)
        times: dict[str, list[float]] = {name: [] for name in candidates}
        recaps: dict[str, dict[str, dict[str, int]]] = {}
        for name, (argv, env) in candidates.items():  # warm-up: fact cache, SSH masters, pyc caches
            run(name, argv, env)
        for _ in range(args.rounds):
            for name, (argv, env) in candidates.items():
                elapsed, recaps[name] = run(name, argv, env)
                times[name].append(elapsed)

    baseline = statistics.median(times[BASELINE]) if BASELINE in times else None
    print(f"site.yml no-op on the lab fleet, median of {args.rounds} interleaved rounds")
    print("| configuration | median s | min-max s | vs baseline |\n|---|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        ratio = f"{median / baseline:.2f}" if baseline else "-"
        print(f"| {name} | {median:.1f} | {min(values):.1f}-{max(values):.1f} | {ratio} |")
    for verb, plain, wrapped in (("deploy", PLAIN, WRAPPED), ("plan", PLAIN_PREVIEW, WRAPPED_PREVIEW)):
        overhead = statistics.median(times[wrapped]) / statistics.median(times[plain]) - 1
        # Round by round too: the rounds interleave, so a pair shares the machine's load.
        pairs = ", ".join(f"{w / p - 1:+.1%}" for w, p in zip(times[wrapped], times[plain], strict=True))
        print(f"bizractl {verb} overhead against plain ansible-playbook (same configuration): {overhead:+.1%}"
              f" (round by round: {pairs})")
    if args.overhead_only:
        return 0
    with tempfile.TemporaryDirectory(prefix="bizra-bench-budget-") as budget_dir:
        budget_file = Path(budget_dir) / "budget.json"
        run("task budget", [playbook, *site],
            {**ansible_cfg, "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "bench" / "callback"),
             "ANSIBLE_CALLBACKS_ENABLED": "task_budget", "BIZRA_TASK_BUDGET": str(budget_file)})
        budget = json.loads(budget_file.read_text())
    roles: dict[str, dict[str, int]] = {}
    for per_role in budget.values():
        for role, counts in per_role.items():
            total = roles.setdefault(role, {"hosts": 0, "ok": 0, "skipped": 0})
            total["hosts"] += 1
            total["ok"] += counts["ok"] + counts["changed"]
            total["skipped"] += counts["skipped"]
    print("\ntask budget of the no-op per role (summed over the hosts that run it)")
    print("| role | hosts | tasks run | skipped | run per host | skipped per host |\n|---|---:|---:|---:|---:|---:|")
    for role, total in sorted(roles.items(), key=lambda item: -(item[1]["ok"] + item[1]["skipped"])):
        print(f"| {role} | {total['hosts']} | {total['ok']} | {total['skipped']} | "
              f"{total['ok'] / total['hosts']:.0f} | {total['skipped'] / total['hosts']:.0f} |")
    print("\ntask budget of the no-op (per host: tasks ok / skipped)")
    print("| host | ok | skipped |\n|---|---:|---:|")
    for host, recap in sorted(recaps[PLAIN].items()):
        print(f"| {host} | {recap['ok']} | {recap['skipped']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
