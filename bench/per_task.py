"""Per-task cost of Ansible on the lab fleet, configuration against configuration, in one run.

  .venv/bin/python bench/per_task.py [--hosts svc1,edge1,...] [--tasks 30] [--rounds 3] [--only NAME,...]

A synthetic play of ``--tasks`` real module round trips (``stat``) and as many skipped tasks is run
against the lab hosts, with gather_facts off, once per configuration and round; rounds interleave
the configurations so load on the machine hits all alike. The table gives the median wall time,
the cost per host-task (executed and skipped apart, from a run with only skipped tasks) and the
ratio to the baseline (ansible.cfg with ansible-core's linear strategy). Needs the lab up (`make lab-up`).

Configurations: the checkout's ansible.cfg with ansible-core's linear strategy (baseline: SSH,
pipelining, ControlPersist 120 s, forks 20), without pipelining, without ControlPersist, forks 5
and 50, the free strategy, ansible.cfg as it is (Mitogen's linear strategy), and ansible-core 2.18
(bench/core218.py's venv). A configuration that cannot run here is
reported with the reason, not left out silently.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import core218

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_HOSTS = "svc1,edge1,pg1,pg2,mon1"
# ansible-core's own strategy (ansible.cfg names Mitogen's): the baseline every row is compared to.
LINEAR = {"ANSIBLE_STRATEGY": "linear"}


@dataclass
class Config:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    bin_dir: Path = BIN
    setup_error: str = ""


def playbook(tasks: int, run_tasks: bool) -> str:
    lines = ["- hosts: bench", "  gather_facts: false", "  tasks:"]
    for number in range(tasks):
        if run_tasks:
            lines += [f"    - name: stat {number}", "      ansible.builtin.stat: {path: /etc/hostname}"]
        lines += [f"    - name: skipped {number}", "      ansible.builtin.stat: {path: /etc/hostname}",
                  "      when: false"]
    return "\n".join(lines) + "\n"


def inventory(hosts: list[str], directory: Path) -> Path:
    """The lab inventory, with the chosen hosts also in a group 'bench'."""
    path = directory / "bench_hosts.yml"
    path.write_text("all:\n  children:\n    bench:\n      hosts:\n" + "".join(f"        {h}:\n" for h in hosts))
    return path


def mitogen_config() -> Config:
    """ansible.cfg as it is: Mitogen's linear strategy (the dependency bizractl installs)."""
    return Config("ansible.cfg: mitogen_linear", {
        # Mitogen reads host key checking from the setting, not from the lab inventory's
        # StrictHostKeyChecking=no (the lab inventory sets ansible_host_key_checking too).
        "ANSIBLE_HOST_KEY_CHECKING": "False",
    })


def core_218_config() -> Config:
    """ansible-core 2.18 with its own linear strategy (bench/core218.py's venv)."""
    try:
        return Config("ansible-core 2.18", LINEAR, bin_dir=core218.ansible_playbook().parent)
    except core218.SetupError as error:
        return Config("ansible-core 2.18", setup_error=str(error)[-300:])


def configs(only: set[str]) -> list[Config]:
    all_configs = [
        Config("baseline (ansible-core linear)", LINEAR),
        Config("no pipelining", {**LINEAR, "ANSIBLE_PIPELINING": "False"}),
        Config("no ControlPersist", {**LINEAR, "ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o ServerAliveInterval=15"}),
        Config("forks 5", {**LINEAR, "ANSIBLE_FORKS": "5"}),
        Config("forks 50", {**LINEAR, "ANSIBLE_FORKS": "50"}),
        Config("strategy free", {"ANSIBLE_STRATEGY": "free"}),
        mitogen_config(),
    ]
    if not only or "ansible-core 2.18" in only:
        all_configs.append(core_218_config())
    return [c for c in all_configs if not only or c.name in only or c.name.startswith("baseline")]


def run(config: Config, playbook_path: Path, inventory_path: Path) -> float:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), **config.env}
    argv = [str(config.bin_dir / "ansible-playbook"), "-i", str(ROOT / "inventories" / "lab"),
            "-i", str(inventory_path), str(playbook_path)]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{config.name}: ansible-playbook failed:\n{(done.stdout + done.stderr)[-1500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", default=DEFAULT_HOSTS)
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="configuration names, comma separated (baseline always runs)")
    args = parser.parse_args()
    hosts = [h for h in args.hosts.split(",") if h]
    with tempfile.TemporaryDirectory(prefix="bizra-bench-") as tmp:
        directory = Path(tmp)
        full = directory / "full.yml"
        full.write_text(playbook(args.tasks, run_tasks=True))
        skipped_only = directory / "skipped.yml"
        skipped_only.write_text(playbook(args.tasks, run_tasks=False))
        inventory_path = inventory(hosts, directory)
        chosen = configs({n for n in args.only.split(",") if n})
        for config in chosen:  # warm-up: SSH masters, pyc caches, Mitogen's first connection
            if not config.setup_error:
                try:
                    run(config, skipped_only, inventory_path)
                except RuntimeError as error:
                    config.setup_error = str(error).splitlines()[0] + " " + str(error).splitlines()[-1][:200]
        usable = [c for c in chosen if not c.setup_error]
        times: dict[str, list[float]] = {c.name: [] for c in usable}
        skip_times: dict[str, list[float]] = {c.name: [] for c in usable}
        for _ in range(args.rounds):
            for config in usable:
                times[config.name].append(run(config, full, inventory_path))
                skip_times[config.name].append(run(config, skipped_only, inventory_path))
    host_tasks = len(hosts) * args.tasks
    base = statistics.median(times[usable[0].name])
    print(f"{len(hosts)} hosts x ({args.tasks} stat + {args.tasks} skipped) tasks, median of {args.rounds} rounds")
    print(f"{'configuration':<24} {'wall s':>8} {'ms/host-task run':>18} {'ms/host-task skipped':>21}"
          f" {'vs baseline':>12}")
    for config in chosen:
        if config.setup_error:
            print(f"{config.name:<24} not measured: {config.setup_error}")
            continue
        wall, skip = statistics.median(times[config.name]), statistics.median(skip_times[config.name])
        per_skip = skip / host_tasks * 1000
        per_run = (wall - skip) / host_tasks * 1000
        print(f"{config.name:<24} {wall:8.1f} {per_run:18.0f} {per_skip:21.0f} {wall / base:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
