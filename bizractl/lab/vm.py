"""The lab's VM tier: qemu guests that boot like bare-metal hosts (BIOS, GRUB, Debian's kernel).

For what a container cannot show: the bootloader and kernel command line, hugepages, kernel-wide
sysctls, SELinux, md RAID, reboots. Software emulation (``-accel tcg``), since KVM
guests hang on this machine.

How a VM sits on the lab network. Every lab host, VM or not, is a podman container on the lab
network: for a VM it is an *anchor* that only holds the VM's address (``--ip``, a fixed MAC),
so podman does the addressing, the NAT to the package mirrors and the cleanup exactly as for a
container. Inside the anchor's network namespace the lab bridges the anchor's interface with a
TAP device and starts qemu there; the guest uses the anchor's MAC and address, so on the wire
it *is* the anchor. The qemu process runs from the machine's own qemu, in that namespace only.

The disk: one base image per Debian suite and recipe digest (debootstrap, ``mkfs.ext4 -d``
into a partitioned raw disk, one first boot that runs ``grub-install``), and per VM a qcow2
overlay in the lab's state directory, kept across ``lab up`` runs and removed by ``lab down``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bizractl.errors import LabError
from bizractl.lab import image
from bizractl.lab.spec import LabHost, LabSpec
from bizractl.paths import cache_home, lab_home

VM_RECIPE_FILES = ("packages.txt", "setup.sh", "vm-packages.txt", "vm-setup.sh")
VM_DISK_SIZE = "4G"
FIRST_BOOT_SECONDS = 600
BOOTLOADER_MARKER = "bizra-lab: bootloader installed"
BRIDGE = "br0"
TAP = "tap0"

Log = Callable[[str], None]


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise LabError(f"{tool} is not installed: run `make setup` (it installs the lab's apt packages)")
    return found


def recipe_digest(suite: str) -> str:
    digest = hashlib.sha256(f"vm:{suite}".encode())
    for name in VM_RECIPE_FILES:
        digest.update((image.RECIPE_DIR / name).read_bytes())
    return digest.hexdigest()[:12]


def image_ref(suite: str) -> str:
    """What a VM's anchor carries in its image label: the VM disk it was started from."""
    return f"vm:{suite}-{recipe_digest(suite)}"


def _images_dir() -> Path:
    return cache_home() / "vm-images"


def image_path(suite: str) -> Path:
    return _images_dir() / f"{suite}-{recipe_digest(suite)}.qcow2"


def _vm_packages() -> list[str]:
    lines = (image.RECIPE_DIR / "vm-packages.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ensure_image(suite: str, log: Log) -> Path:
    """Return the VM base disk for ``suite``, building it when the recipe has none yet."""
    path = image_path(suite)
    if path.exists():
        return path
    with image.build_lock(f"vm-image-{suite}"):
        if path.exists():  # another process built it meanwhile
            return path
        return _build_image(suite, path, log)


def _build_image(suite: str, path: Path, log: Log) -> Path:
    for tool in ("debootstrap", "qemu-system-x86_64", "qemu-img", "sfdisk", "mkfs.ext4"):
        _require(tool)
    log(f"building lab VM image {path.name} (debootstrap {suite} + first boot to install GRUB, "
        "a few minutes, once per recipe)")
    build_root = cache_home() / "build"
    build_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build_root) as tmp:
        work = Path(tmp)
        rootfs = work / "rootfs"
        image.debootstrap(suite, image.recipe_packages() + _vm_packages(), rootfs)
        for script in ("setup.sh", "vm-setup.sh"):
            shutil.copy(image.RECIPE_DIR / script, rootfs / "tmp" / script)
            image.run_step(["chroot", str(rootfs), "/bin/sh", f"/tmp/{script}", suite], f"VM image {script}")
            (rootfs / "tmp" / script).unlink()
        kernel = _newest(rootfs / "boot", "vmlinuz-")
        initrd = _newest(rootfs / "boot", "initrd.img-")
        shutil.copy(kernel, work / "vmlinuz")
        shutil.copy(initrd, work / "initrd.img")
        raw = work / "disk.raw"
        _partitioned_disk(rootfs, raw, work)
        shutil.rmtree(rootfs)
        _install_bootloader(raw, work)
        staged = work / "disk.qcow2"
        image.run_step(["qemu-img", "convert", "-O", "qcow2", str(raw), str(staged)], "qemu-img convert")
        _images_dir().mkdir(parents=True, exist_ok=True)
        os.replace(staged, path)
    for stale in _images_dir().glob(f"{suite}-*.qcow2"):
        if stale != path:
            stale.unlink()
    log(f"built {path.name}")
    return path


def _newest(directory: Path, prefix: str) -> Path:
    found = sorted(directory.glob(f"{prefix}*"))
    if not found:
        raise LabError(f"the VM image has no {prefix}* in /boot: is linux-image-amd64 in vm-packages.txt?")
    return found[-1]


def _partitioned_disk(rootfs: Path, raw: Path, work: Path) -> None:
    """An MBR disk with one ext4 partition at 1 MiB holding ``rootfs`` (no loop devices needed)."""
    part = work / "root.ext4"
    image.run_step(["mkfs.ext4", "-q", "-L", "bizra-root", "-d", str(rootfs), str(part), VM_DISK_SIZE], "mkfs.ext4")
    size = part.stat().st_size
    with raw.open("wb") as disk:
        disk.truncate(size + 2 * 1024 * 1024)
    image.run_step(["sfdisk", "--quiet", str(raw)], "sfdisk", stdin="label: dos\nstart=2048, type=83, bootable\n")
    image.run_step(["dd", f"if={part}", f"of={raw}", "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none"], "dd")
    part.unlink()


def _install_bootloader(raw: Path, work: Path) -> None:
    """Boot the new disk once with the kernel given to qemu; its first-boot unit runs grub-install."""
    console = work / "first-boot.log"
    argv = [
        "qemu-system-x86_64", *_machine_args(2, 1024), "-no-reboot",
        "-kernel", str(work / "vmlinuz"), "-initrd", str(work / "initrd.img"),
        "-append", "root=/dev/vda1 rw console=ttyS0,115200 net.ifnames=0 tsc=reliable",
        "-drive", f"file={raw},if=virtio,format=raw",
        "-serial", f"file:{console}", "-nic", "none",
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=FIRST_BOOT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"the VM image's first boot did not finish within {FIRST_BOOT_SECONDS}s:\n"
                       f"{_tail(console)}") from None
    log = console.read_text(errors="replace") if console.exists() else ""
    if proc.returncode != 0 or BOOTLOADER_MARKER not in log:
        raise LabError(f"the VM image's first boot did not install GRUB (qemu exit {proc.returncode}):\n"
                       f"{proc.stderr.strip()}\n{_tail(console)}")


def tcg_threading(cpus: int, host_cores: int) -> str:
    """One host thread per vCPU when there is a core for each; else one thread for all of them.

    Multi-threaded TCG on fewer cores than vCPUs makes a vCPU spin on a lock its descheduled
    sibling holds: the lab VM (3 vCPUs) booted to its login prompt in 72 s with one thread per
    vCPU and in 57 s with one thread, both pinned to one core (make test pins the VM tier).
    """
    return "multi" if host_cores >= cpus else "single"


def _machine_args(cpus: int, memory_mib: int) -> list[str]:
    # KVM guests hang before the kernel prints anything on these machines: software emulation.
    thread = tcg_threading(cpus, len(os.sched_getaffinity(0)))
    return ["-accel", f"tcg,thread={thread}", "-cpu", "max", "-smp", str(cpus), "-m", str(memory_mib),
            "-display", "none", "-monitor", "none"]


def _tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return "(no console output)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# Running VMs


def mac_address(spec: LabSpec, host: LabHost) -> str:
    """A stable, locally administered MAC for a VM (and its anchor), derived from its name."""
    digest = hashlib.sha256(f"{spec.name}/{host.name}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def state_dir(spec: LabSpec, host: LabHost) -> Path:
    return lab_home() / "vms" / spec.container_name(host)


def _pid(spec: LabSpec, host: LabHost) -> int | None:
    """The qemu process of a VM, if it runs (checked against its command line, not just the pid)."""
    pidfile = state_dir(spec, host) / "qemu.pid"
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if f"guest={spec.container_name(host)}".encode() in cmdline else None


def running(spec: LabSpec, host: LabHost) -> bool:
    return _pid(spec, host) is not None


def stop(spec: LabSpec, host: LabHost, remove_disk: bool = False) -> None:
    pid = _pid(spec, host)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.2)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    if remove_disk:
        directory = state_dir(spec, host)
        # The console outlives the disks: after a failed test run it is what tells a hung boot
        # from a slow one (make test prints it when the VM tier fails).
        console = directory / "console.log"
        if console.exists():
            shutil.copy(console, last_console(spec, host))
        shutil.rmtree(directory, ignore_errors=True)


def last_console(spec: LabSpec, host: LabHost) -> Path:
    """Where a removed VM's console log is kept until the VM is removed again."""
    return state_dir(spec, host).with_name(f"{spec.container_name(host)}.console.log")


def start(spec: LabSpec, host: LabHost, base_image: Path, anchor_pid: int, resolv_conf: str,
          authorized_key: str) -> None:
    """Start a VM in its anchor's network namespace; its disk overlay is created on first start."""
    directory = state_dir(spec, host)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    disk = directory / "disk.qcow2"
    if not disk.exists():
        image.run_step(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base_image), "-F", "qcow2", str(disk)],
             "qemu-img create")
    config = directory / "lab.conf"
    config.write_text(_guest_config(spec, host, resolv_conf, authorized_key), encoding="utf-8")
    netns = ["nsenter", f"--net=/proc/{anchor_pid}/ns/net", "--"]
    _bridge_anchor(netns)
    console = directory / "console.log"
    console.unlink(missing_ok=True)
    argv = [
        *netns, "qemu-system-x86_64", "-name", f"guest={spec.container_name(host)}",
        *_machine_args(host.vm_cpus, host.vm_memory_mib),
        "-daemonize", "-pidfile", str(directory / "qemu.pid"), "-serial", f"file:{console}",
        "-drive", f"file={disk},if=virtio,format=qcow2",
        "-netdev", f"tap,id=lab,ifname={TAP},script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev=lab,mac={mac_address(spec, host)}",
        "-fw_cfg", f"name=opt/bizra/lab,file={config}",
        *_nvme_args(directory, host),
    ]
    image.run_step(argv, f"starting VM {host.name}")


def _nvme_args(directory: Path, host: LabHost) -> list[str]:
    """NVMe disks with stable serials (by-id names work), for RAID and storage roles."""
    args: list[str] = []
    for index in range(host.vm_nvme_disks):
        disk = directory / f"nvme{index}.qcow2"
        if not disk.exists():
            image.run_step(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), host.vm_nvme_size], "qemu-img create")
        serial = f"BIZRALAB{index:04d}"
        args += ["-drive", f"file={disk},if=none,id=nvme{index},format=qcow2",
                 "-device", f"nvme,drive=nvme{index},serial={serial}"]
    return args


def _bridge_anchor(netns: list[str]) -> None:
    """Inside the anchor's namespace: eth0 and a TAP device on one bridge, no address of its own.

    eth0 takes another MAC, since a bridge treats frames for a port's own MAC as its own, and
    the guest keeps the anchor's. Done once per anchor start (the bridge marks it done).
    """
    links = json.loads(image.run_step([*netns, "ip", "-j", "link", "show"], "ip link"))
    if any(link.get("ifname") == BRIDGE for link in links):
        return
    script = "; ".join([
        "set -e",
        f"ip link add {BRIDGE} type bridge",
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
        "ip link set eth0 down",
        "ip addr flush dev eth0",
        "ip link set eth0 address 02:00:00:00:00:01",
        f"ip link set eth0 master {BRIDGE}",
        f"ip tuntap add dev {TAP} mode tap",
        f"ip link set {TAP} master {BRIDGE}",
        f"ip link set {BRIDGE} up", "ip link set eth0 up", f"ip link set {TAP} up",
    ])
    image.run_step([*netns, "sh", "-c", script], "bridging the VM's anchor")


def _guest_config(spec: LabSpec, host: LabHost, resolv_conf: str, authorized_key: str) -> str:
    prefix = spec.network_subnet.split("/")[1]
    nameservers = [line.split()[1] for line in resolv_conf.splitlines()
                   if line.startswith("nameserver") and len(line.split()) > 1]
    values = {
        "LAB_HOSTNAME": host.name,
        "LAB_ADDRESS": f"{host.address}/{prefix}",
        "LAB_GATEWAY": spec.gateway,
        "LAB_ADDRESS6": f"{host.address_v6}/{spec.network_subnet_v6.split('/')[1]}" if host.address_v6 else "",
        "LAB_GATEWAY6": spec.network_gateway_v6 if host.address_v6 else "",
        "LAB_NAMESERVERS": " ".join(nameservers),
        "LAB_AUTHORIZED_KEY": authorized_key.strip(),
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def console_tail(spec: LabSpec, host: LabHost) -> str:
    return _tail(state_dir(spec, host) / "console.log")
