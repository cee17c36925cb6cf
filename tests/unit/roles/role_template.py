"""Render one of a role's templates as the role does: Ansible's template module on the controller,
with the role's defaults and vars (given as extra vars, so they override the inventory) and the
test's variables; for a host of ``inventory`` when given, else localhost."""

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
