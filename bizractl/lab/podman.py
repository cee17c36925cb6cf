"""A thin wrapper over the podman CLI, with the flags these sandboxed machines require:

- ``--runtime runc``: crun refuses the kernel's hybrid cgroup layout.
- both ``--ulimit`` flags: without CAP_SYS_RESOURCE podman's defaults fail in setrlimit.
- ``--privileged``: nftables and most sysctls inside the lab hosts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import IO

from bizractl.errors import LabError

LABEL_LAB = "bizra.lab"
LABEL_HOST = "bizra.lab.host"
LABEL_IMAGE = "bizra.lab.image"


class Podman:
    def __init__(self, executable: str | None = None) -> None:
        found = executable or shutil.which("podman")
        if not found:
            raise LabError("podman is not installed: run `make setup` (it installs the lab's apt packages)")
        self.argv0 = [found, "--runtime", "runc"]

    def _run(self, *args: str, check: bool = True, stdin: IO[bytes] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [*self.argv0, *args], capture_output=True, stdin=stdin, check=False,
        )
        if check and proc.returncode != 0:
            stderr = proc.stderr.decode(errors="replace").strip()
            raise LabError(f"podman {' '.join(args[:3])} failed: {stderr}")
        return proc

    # Images
    def image_exists(self, ref: str) -> bool:
        return self._run("image", "exists", ref, check=False).returncode == 0

    def import_image(self, tar_stream: IO[bytes] | None, ref: str, cmd: str = "/sbin/init") -> None:
        self._run("import", "--change", f"CMD={cmd}", "-", ref, stdin=tar_stream)

    def remove_stale_images(self, repository: str, suite: str, keep: str) -> None:
        out = self._run("images", "--format", "json", check=False).stdout or b"[]"
        for image in json.loads(out):
            for name in image.get("Names") or []:
                if name.startswith(f"{repository}:{suite}-") and name != keep:
                    self._run("rmi", name, check=False)

    # Networks
    def network_exists(self, name: str) -> bool:
        return self._run("network", "exists", name, check=False).returncode == 0

    def network_subnets(self, name: str) -> list[str]:
        data = json.loads(self._run("network", "inspect", name).stdout)
        subnets = []
        for net in data:
            subnets += [s.get("subnet") for s in net.get("subnets") or []]
            for plugin in (net.get("plugins") or []):  # CNI backend layout
                for ranges in plugin.get("ipam", {}).get("ranges", []):
                    subnets += [r.get("subnet") for r in ranges]
        return [s for s in subnets if s]

    def create_network(self, name: str, subnets: list[tuple[str, str]], lab: str) -> None:
        """One network, one (subnet, gateway) pair per address family."""
        argv = ["network", "create", "--label", f"{LABEL_LAB}={lab}"]
        if len(subnets) > 1:
            argv.append("--ipv6")
        for subnet, gateway in subnets:
            argv += ["--subnet", subnet, "--gateway", gateway]
        self._run(*argv, name)

    def remove_network(self, name: str) -> None:
        self._run("network", "rm", "-f", name, check=False)

    # Containers
    def containers(self, lab: str) -> dict[str, dict]:
        """Containers of one lab, keyed by lab host name."""
        out = self._run("ps", "-a", "--filter", f"label={LABEL_LAB}={lab}", "--format", "json").stdout
        result = {}
        for entry in json.loads(out or b"[]"):
            labels = entry.get("Labels") or {}
            result[labels.get(LABEL_HOST, entry["Names"][0])] = entry
        return result

    def running_count(self) -> int:
        """Running containers of every lab (they share the machine's inotify instances)."""
        return len((self._run("ps", "-q", check=False).stdout or b"").split())

    def run_container(self, argv: list[str]) -> None:
        self._run("run", *argv)

    def pid(self, name: str) -> int:
        """The host PID of a running container's first process (its namespaces are reachable there)."""
        return int(self._run("inspect", "--format", "{{.State.Pid}}", name).stdout.strip())

    def start(self, name: str) -> None:
        self._run("start", name)

    def remove(self, *names: str) -> None:
        if names:
            self._run("rm", "-f", "-t", "5", *names, check=False)
