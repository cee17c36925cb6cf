"""Helpers for Molecule verifiers: run a playbook against the scenario's hosts, read the recap."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)"
)


def scenario_dir() -> Path:
    return Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])


def inventory_dir() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"


def run_playbook(playbook: str, *args: str) -> tuple[int, str, dict[str, dict[str, int]]]:
    """Run a playbook (of the scenario, or a path) with Molecule's inventory and ansible.cfg."""
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    path = scenario_dir() / playbook  # an absolute playbook path stays as it is
    proc = subprocess.run(
        [str(ansible_playbook), "-i", str(inventory_dir()), str(path), *args],
        capture_output=True, text=True, check=False, env=env,
    )
    output = ANSI_ESCAPE.sub("", proc.stdout + proc.stderr)
    recap = {}
    for line in output.splitlines():
        match = RECAP_LINE.match(line.strip())
        if match:
            recap[match["host"]] = {k: int(v) for k, v in match.groupdict().items() if k != "host"}
    return proc.returncode, output, recap


def lab_key() -> Path:
    """The lab's SSH key (what `bizractl lab` generated; BIZRA_LAB_HOME moves it)."""
    return Path(os.environ.get("BIZRA_LAB_HOME") or "~/.local/share/bizra/lab").expanduser() / "ssh" / "id_ed25519"


def ssh_host(address: str, fresh: bool = False):
    """A testinfra host over plain SSH with the lab key and a persistent master connection.

    Much faster than testinfra's ansible:// backend with force_ansible (one ssh exec per
    command instead of an Ansible run), most of all on VM-tier hosts under software emulation.
    ``fresh``: no shared master, so the host is reached over a new connection (what a firewall
    change must still allow).
    """
    import testinfra

    return testinfra.get_host(
        f"ssh://root@{address}", ssh_identity_file=str(lab_key()),
        controlpersist=0 if fresh else 120, controlpath=f"/tmp/bizra-testinfra-{address}",
        ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
    )


def wait_for(check, seconds: float = 60, what: str = "condition", retry_on: tuple = ()):
    """Poll check() every second until it returns something true (returned), or fail after seconds.

    ``retry_on``: exception types that count as "not yet" (an assertion inside check(), a key a
    daemon's JSON does not have yet); raised as they are once the time is up.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except retry_on:
            if time.monotonic() > deadline:
                raise
        else:
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {seconds} s waiting for {what} (last: {result!r})")
        time.sleep(1)


def assert_nothing_changed(recap: dict[str, dict[str, int]], output: str, hosts) -> None:
    """Every host of ``hosts`` is in the play recap with changed=0. An empty recap (the playbook
    never got to run) or a host missing from it fails: "no host changed" must mean they ran."""
    assert recap, f"no PLAY RECAP in the output:\n{output[-3000:]}"
    missing = sorted(set(hosts) - set(recap))
    assert not missing, f"hosts missing from the recap: {missing}\n{output[-3000:]}"
    changed = {host: counts["changed"] for host, counts in recap.items() if counts["changed"]}
    assert changed == {}, f"hosts that changed: {changed}\n{output[-3000:]}"
