"""Bring lab hosts up and down, and report on them.

A lab host is reached over SSH exactly like a production host (key pair generated for the
lab, the same ssh options Ansible uses), never through ``podman exec``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import netaddr

from bizractl.errors import LabError
from bizractl.lab import image, mirror, vm
from bizractl.lab.podman import LABEL_HOST, LABEL_IMAGE, LABEL_LAB, Podman
from bizractl.lab.spec import LabHost, LabSpec
from bizractl.paths import lab_home

SSH_WAIT_SECONDS = 90
# A VM boots through BIOS and GRUB under software emulation, beside other guests on 2 cores.
VM_SSH_WAIT_SECONDS = 600
SSH_OPTIONS = (
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "BatchMode=yes",
)

Log = Callable[[str], None]

# systemd in a container holds about 9 inotify instances of the machine's root user; with the
# kernel's default of 128 the 15th container hangs in `initializing` and never answers SSH.
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_PER_CONTAINER = 12
INOTIFY_RAISED = 1024
# Elasticsearch and OpenSearch refuse to join a cluster below this (a bootstrap check); containers
# share the machine's kernel, so a lab that runs them needs it on the machine, as production hosts do.
MAX_MAP_COUNT = Path("/proc/sys/vm/max_map_count")
MAX_MAP_COUNT_NEEDED = 262144


@dataclass(frozen=True)
class HostStatus:
    name: str
    kind: str
    address: str
    state: str  # running | stopped | absent | outdated
    ssh: bool


def ssh_key() -> Path:
    """The lab's private key; created on first use (ed25519, no passphrase, 0600)."""
    key = lab_home() / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bizra-lab", "-f", str(key)],
            check=True,
        )
    return key


def appliance_certificate() -> Path:
    """The certificate of the lab's HSM appliance, which the lab inventory pins (an operator is given
    an appliance's certificate before its clients are set up). Nothing serves it: the lab's
    appliance never answers. Made once, self-signed; public, so no key is kept."""
    path = lab_home() / "hsm" / "luna-lab.crt"
    if path.exists():
        return path
    # Imported here: the CLI's start stays fast (cryptography comes with ansible-core).
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "luna-lab (bizra lab HSM appliance)")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=3650)).sign(key, hashes.SHA256()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


# Hosts the lab must keep reaching through the machine (package mirrors).
MIRROR_HOSTS = ("deb.debian.org", "security.debian.org")


def check_subnet_is_free(spec: LabSpec, routes: list[dict], mirrors: dict[str, str]) -> None:
    """A lab network must not shadow the machine's own networks or its package mirrors.

    A lab subnet that overlaps the uplink or holds the mirror's address would cut the
    machine (and every lab host) off the package registries.
    """
    subnets = [("lab_network_subnet", netaddr.IPNetwork(spec.network_subnet))]
    if spec.network_subnet_v6:
        subnets.append(("lab_network_subnet_v6", netaddr.IPNetwork(spec.network_subnet_v6)))
    for variable, subnet in subnets:
        for route in routes:
            dst = route.get("dst", "")
            if dst in ("", "default") or route.get("dev", "").startswith(("podman", "cni-", "veth")):
                continue
            try:
                other = netaddr.IPNetwork(dst)
            except (netaddr.AddrFormatError, ValueError):
                continue
            if other.version == subnet.version and (other in subnet or subnet in other):
                raise LabError(
                    f"{variable} {subnet} overlaps the machine's network {other} on {route.get('dev')}; "
                    "choose another subnet"
                )
        for host, address in mirrors.items():
            if netaddr.IPAddress(address) in subnet:
                raise LabError(
                    f"{variable} {subnet} contains {address}, the address of {host} (the package mirror); "
                    "lab hosts would lose their packages: choose another subnet"
                )


def _machine_routes() -> list[dict]:
    routes: list[dict] = []
    for family in ("-4", "-6"):
        proc = subprocess.run(["ip", "-j", family, "route", "show"], capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            routes += json.loads(proc.stdout or "[]")
    return routes


def _mirror_addresses() -> dict[str, str]:
    found = {}
    for host in MIRROR_HOSTS:
        try:
            found[host] = socket.gethostbyname(host)
        except OSError:
            continue
    return found


def _ensure_network(podman: Podman, spec: LabSpec) -> None:
    wanted = [(spec.network_subnet, spec.gateway)]
    if spec.network_subnet_v6:
        wanted.append((spec.network_subnet_v6, spec.network_gateway_v6))
    if podman.network_exists(spec.network_name):
        subnets = podman.network_subnets(spec.network_name)
        if sorted(subnets) != sorted(subnet for subnet, _ in wanted):
            raise LabError(
                f"podman network {spec.network_name} exists with subnets {', '.join(subnets) or '?'}, "
                f"but the inventory wants {', '.join(s for s, _ in wanted)}; run `bizractl lab down` first"
            )
        return
    check_subnet_is_free(spec, _machine_routes(), _mirror_addresses())
    podman.create_network(spec.network_name, wanted, spec.name)


def _run_argv(spec: LabSpec, host: LabHost, image_ref: str, pubkey: Path) -> list[str]:
    return [
        "-d", "--name", spec.container_name(host), "--hostname", host.name,
        "--privileged", "--systemd=always",
        "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
        "--network", spec.network_name, "--ip", host.address,
        *(["--ip6", host.address_v6] if host.address_v6 else []),
        "--volume", f"{image.apt_archive_dir(host.distribution, spec.container_name(host))}:/var/cache/apt/archives",
        "--volume", f"{pubkey}:/root/.ssh/authorized_keys:ro",
        "--label", f"{LABEL_LAB}={spec.name}", "--label", f"{LABEL_HOST}={host.name}",
        "--label", f"{LABEL_IMAGE}={image_ref}",
        image_ref, "/sbin/init",
    ]


def _anchor_argv(spec: LabSpec, host: LabHost, container_image: str, vm_image_ref: str) -> list[str]:
    """A VM's anchor: holds its address and MAC on the lab network, runs nothing (see vm.py)."""
    return [
        "-d", "--name", spec.container_name(host), "--hostname", host.name,
        "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
        "--network", spec.network_name, "--ip", host.address,
        *(["--ip6", host.address_v6] if host.address_v6 else []),
        "--mac-address", vm.mac_address(spec, host),
        "--label", f"{LABEL_LAB}={spec.name}", "--label", f"{LABEL_HOST}={host.name}",
        "--label", f"{LABEL_IMAGE}={vm_image_ref}",
        container_image, "sleep", "infinity",
    ]


def _wanted_image(host: LabHost) -> str:
    return vm.image_ref(host.distribution) if host.kind == "vm" else image.image_ref(host.distribution)


def ssh_ready(address: str, timeout: float = 2.0) -> bool:
    """True when sshd at ``address`` sends its banner."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _wait_for_ssh(spec: LabSpec, host: LabHost, deadline: float) -> None:
    while time.monotonic() < deadline:
        if ssh_ready(host.address):
            return
        if host.kind == "vm" and not vm.running(spec, host):
            raise LabError(f"lab VM {host.name} stopped while booting; its console:\n{vm.console_tail(spec, host)}")
        time.sleep(0.5)
    seconds = VM_SSH_WAIT_SECONDS if host.kind == "vm" else SSH_WAIT_SECONDS
    console = f"; its console:\n{vm.console_tail(spec, host)}" if host.kind == "vm" else ""
    raise LabError(f"lab host {host.name} ({host.address}) did not answer on SSH within {seconds}s{console}")


def _forget_facts(fact_cache: Path | None, host: LabHost) -> None:
    """A new lab host is a new machine: cached facts of its predecessor must not answer for it."""
    if fact_cache is not None:
        (fact_cache / host.name).unlink(missing_ok=True)


def ensure_inotify_instances(containers: int, log: Log, setting: Path = INOTIFY_INSTANCES) -> None:
    """Raise fs.inotify.max_user_instances before starting more systemd containers than it holds."""
    needed = containers * INOTIFY_PER_CONTAINER
    _raise_kernel_setting(setting, "fs.inotify.max_user_instances", needed, max(INOTIFY_RAISED, needed),
                          f"{containers} systemd containers", log)


def _raise_kernel_setting(setting: Path, name: str, needed: int, wanted: int, why: str, log: Log) -> None:
    current = int(setting.read_text(encoding="utf-8").strip())
    if needed <= current:
        return
    try:
        setting.write_text(f"{wanted}\n", encoding="utf-8")
    except OSError as error:
        raise LabError(
            f"{why} need {name} >= {needed} (it is {current}) and it cannot be raised from here "
            f"({error.strerror}): run `sudo sysctl -w {name}={wanted}` and try again") from None
    log(f"raised {name} from {current} to {wanted} for {why}")


def up(spec: LabSpec, log: Log, podman: Podman | None = None, fact_cache: Path | None = None) -> None:
    """Create or start every host of the lab; a host already running is left alone."""
    podman = podman or Podman()
    key = ssh_key()
    appliance_certificate()
    images = {d: image.ensure_image(podman, d, log) for d in sorted({h.distribution for h in spec.hosts})}
    vm_images = {d: vm.ensure_image(d, log) for d in sorted({h.distribution for h in spec.hosts if h.kind == "vm"})}
    if spec.mirror_releases:
        mirror.ensure(spec.mirror_releases, log)
    if any(release.maven == "opensearch" for release in spec.mirror_releases):
        _raise_kernel_setting(MAX_MAP_COUNT, "vm.max_map_count", MAX_MAP_COUNT_NEEDED, MAX_MAP_COUNT_NEEDED,
                              "OpenSearch nodes that form a cluster", log)
    _ensure_network(podman, spec)
    existing = podman.containers(spec.name)
    not_running = [h for h in spec.hosts if (existing.get(h.name) or {}).get("State") != "running"]
    ensure_inotify_instances(podman.running_count() + len(not_running), log)
    for host in spec.hosts:
        if host.kind == "container":
            image.harvest_apt_archives(host.distribution, spec.container_name(host))
    started = []
    for host in spec.hosts:
        wanted_image = _wanted_image(host)
        current = existing.get(host.name)
        if current is not None and (current.get("Labels") or {}).get(LABEL_IMAGE) != wanted_image:
            log(f"{host.name}: image recipe changed, recreating")
            _remove_host(spec, host, podman)
            current = None
        if current is None:
            _forget_facts(fact_cache, host)
            if host.kind == "vm":
                podman.run_container(_anchor_argv(spec, host, images[host.distribution], wanted_image))
            else:
                podman.run_container(_run_argv(spec, host, wanted_image, key.with_suffix(".pub")))
            started.append(host)
        elif current.get("State") != "running":
            if host.kind == "vm":
                vm.stop(spec, host)  # its namespace is gone with the anchor: start both afresh
            podman.start(spec.container_name(host))
            started.append(host)
        if host.kind == "vm" and not vm.running(spec, host):
            anchor_pid = podman.pid(spec.container_name(host))
            resolv_conf = Path(f"/proc/{anchor_pid}/root/etc/resolv.conf").read_text(encoding="utf-8")
            vm.start(spec, host, vm_images[host.distribution], anchor_pid, resolv_conf,
                     key.with_suffix(".pub").read_text(encoding="utf-8"))
            if host not in started:
                started.append(host)
    now = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, len(spec.hosts))) as pool:
        list(pool.map(lambda h: _wait_for_ssh(
            spec, h, now + (VM_SSH_WAIT_SECONDS if h.kind == "vm" else SSH_WAIT_SECONDS)), spec.hosts))
    if started:
        log(f"started {', '.join(h.name for h in started)}")
    log(f"lab {spec.name}: {len(spec.hosts)} host(s) up on {spec.network_name} ({spec.network_subnet})")


def _remove_host(spec: LabSpec, host: LabHost, podman: Podman) -> None:
    if host.kind == "vm":
        vm.stop(spec, host, remove_disk=True)
    podman.remove(spec.container_name(host))


def down(spec: LabSpec, log: Log, podman: Podman | None = None, keep_network: bool = False,
         fact_cache: Path | None = None) -> None:
    """Remove the lab's hosts and its network.

    With every host of the inventory selected, containers of the lab that the inventory no
    longer names go too; with a subset (``--host``), only those and the network stays.
    """
    podman = podman or Podman()
    wanted = {h.name for h in spec.hosts}
    containers = podman.containers(spec.name)
    if keep_network:
        containers = {name: entry for name, entry in containers.items() if name in wanted}
    names = [entry["Names"][0] for entry in containers.values()]
    for host_name in containers:
        # A VM's qemu runs beside its anchor: stop it and drop its disks (by name: the
        # inventory may no longer declare it a VM).
        vm.stop(spec, LabHost(host_name, ""), remove_disk=True)
    podman.remove(*names)
    distributions = {h.name: h.distribution for h in spec.hosts}
    for host_name, entry in containers.items():
        suite = distributions.get(host_name) or _suite_of(entry)
        image.harvest_apt_archives(suite, entry["Names"][0], remove=True)
        _forget_facts(fact_cache, LabHost(host_name, ""))
    if not keep_network:
        podman.remove_network(spec.network_name)
    network = "" if keep_network else f" and network {spec.network_name}"
    log(f"lab {spec.name}: removed {len(names)} host(s){network}")


def _suite_of(container: dict) -> str:
    """Debian suite of a lab container, from its image tag (``bizra-lab:<suite>-<digest>``)."""
    tag = (container.get("Labels") or {}).get(LABEL_IMAGE, "")
    return tag.rsplit(":", 1)[-1].split("-", 1)[0] or "bookworm"


def status(spec: LabSpec, podman: Podman | None = None) -> list[HostStatus]:
    podman = podman or Podman()
    existing = podman.containers(spec.name)
    rows = []
    for host in spec.hosts:
        entry = existing.get(host.name)
        if entry is None:
            state = "absent"
        elif (entry.get("Labels") or {}).get(LABEL_IMAGE) != _wanted_image(host):
            state = "outdated"
        elif entry.get("State") == "running" and (host.kind == "container" or vm.running(spec, host)):
            state = "running"
        else:
            state = "stopped"
        reachable = state in ("running", "outdated") and ssh_ready(host.address, timeout=1.0)
        rows.append(HostStatus(host.name, host.kind, host.address, state, reachable))
    return rows


def ssh_argv(host: LabHost, command: list[str] | None = None) -> list[str]:
    return ["ssh", "-i", str(ssh_key()), *SSH_OPTIONS, f"root@{host.address}", *(command or [])]
