"""Run a role's parts as the role does, on the controller: render one of its templates (Ansible's
template module, with the role's defaults and vars given as extra vars, so they override the
inventory, and the test's variables; for a host of ``inventory`` when given, else localhost), or
run its validate entry point through ansible-playbook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def render_role_template(role: str, template: str, dest: Path, variables: dict, host: str = "localhost",
                         inventory: Path | None = None) -> str:
    role_dir = ROOT / "roles" / role
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    target = ["-i", str(inventory)] if inventory else ["-c", "local", "-i", "localhost,"]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), host, *target,
         "-e", "ansible_python_interpreter={{ ansible_playbook_python }}",
         "-e", f"@{role_dir / 'defaults' / 'main.yml'}", "-e", f"@{role_dir / 'vars' / 'main.yml'}",
         "-e", json.dumps(variables),
         "-m", "ansible.builtin.template",
         "-a", json.dumps({"src": str(role_dir / "templates" / template), "dest": str(dest)})],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return dest.read_text()


def run_role_validate(role: str, host: str, inventory: Path, variables: dict,
                      workdir: Path) -> subprocess.CompletedProcess:
    """The role's validate entry point (what its main runs first) on ``host``, through ansible-playbook."""
    playbook = workdir / "validate.yml"
    playbook.write_text(f"- hosts: {host}\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n"
                        f"        name: bizra.infra.{role}\n        tasks_from: validate\n", encoding="utf-8")
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOCALHOST_WARNING": "0"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "-e", json.dumps(variables),
         str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
