"""bizra.infra.start_gate holds a real ansible-playbook before its first play until the gate file
says go, ends it there on stop, and does nothing when no gate is named."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from bizractl.paths import ensure_collection_link
from tests.unit.plugins.local_play import ROOT, run_local_play

PLAY = """- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        content: ran
        dest: "{{ marker }}"
        mode: "0600"
"""
STOPPED_AT_THE_GATE = 250


def run_play(tmp_path: Path, gate: Path | None) -> tuple[subprocess.CompletedProcess, Path]:
    ensure_collection_link(ROOT)
    marker = tmp_path / "marker"
    env = {"ANSIBLE_CALLBACKS_ENABLED": "bizra.infra.start_gate"}
    if gate is not None:
        env["BIZRA_START_GATE"] = str(gate)
    done = run_local_play(tmp_path, PLAY, env, unset="BIZRA_START_GATE", extra_vars=(f"marker={marker}",))
    return done, marker


def test_the_first_play_waits_for_go(tmp_path):
    gate = tmp_path / "gate"
    opened = []

    def say_go_later():
        time.sleep(3)
        opened.append(time.time())
        gate.write_text("go\n", encoding="utf-8")

    opener = threading.Thread(target=say_go_later)
    opener.start()
    done, marker = run_play(tmp_path, gate)
    opener.join()
    assert done.returncode == 0, done.stdout + done.stderr
    assert marker.read_text() == "ran"
    assert marker.stat().st_mtime >= opened[0] - 0.05, "the task ran before the gate opened"


def test_stop_ends_the_run_before_its_first_play(tmp_path):
    gate = tmp_path / "gate"
    gate.write_text("stop\n", encoding="utf-8")
    done, marker = run_play(tmp_path, gate)
    assert done.returncode == STOPPED_AT_THE_GATE, done.stdout + done.stderr
    assert "PLAY [" not in done.stdout
    assert not marker.exists()


def test_without_a_gate_the_run_goes_as_usual(tmp_path):
    done, marker = run_play(tmp_path, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Skipping callback" not in done.stdout + done.stderr
    assert marker.read_text() == "ran"
