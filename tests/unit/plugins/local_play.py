"""Run a play on localhost with the checkout's ansible.cfg, as the plugin tests need it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run_local_play(tmp_path: Path, play: str, env: dict[str, str], *, unset: str, extra_vars: tuple[str, ...] = (),
                   prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """ansible-playbook on `play` (YAML text) against localhost; `unset` is dropped from the environment
    first (the switch under test), `env` added; `prefix` runs before it (e.g. taskset)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(play, encoding="utf-8")
    run_env = {key: value for key, value in os.environ.items() if key != unset}
    run_env.update({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOCALHOST_WARNING": "0",
                    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0", "ANSIBLE_NOCOLOR": "1", **env})
    extra = [arg for value in extra_vars for arg in ("-e", value)]
    return subprocess.run(
        [*prefix, str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", *extra,
         "-e", "ansible_python_interpreter={{ ansible_playbook_python }}", str(playbook)],
        cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=120, check=False)
