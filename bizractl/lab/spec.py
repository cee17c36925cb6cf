"""The lab as data: which hosts, on which network, built from which image.

Built from ``ansible-inventory --list`` output, so the lab reads the same inventory the
playbooks run against (group_vars included). Host variables it reads:

- ``ansible_host`` (required): the host's static address on the lab network.
- ``lab_kind``: ``container`` (default) or ``vm``.
- ``lab_distribution``: Debian suite of the image, ``bookworm`` (default) or ``trixie``.
- ``lab_name``: the lab's name, prefix of container names (default ``bizra``).
- ``lab_network_name`` / ``lab_network_subnet``: the dedicated podman network.
- ``lab_network_gateway``: the machine's address on it (default: the subnet's first address).
- ``lab_network_subnet_v6`` / ``lab_network_gateway_v6``: optional IPv6 on the same network,
  and ``lab_ipv6`` per host: its static IPv6 address there.
- ``lab_mirror_releases``: releases the lab's artifact mirror builds and serves (``mirror.py``).
- VMs only: ``lab_vm_cpus`` (default 2), ``lab_vm_memory_mib`` (default 1536),
  ``lab_vm_nvme_disks`` (NVMe disks with stable serials, default 0) of ``lab_vm_nvme_size``
  (default ``1G``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import netaddr

from bizractl.errors import BadInputError, LabError
from bizractl.lab.mirror import MAVEN_BUILDS, Release

LAB_KINDS = ("container", "vm")
LAB_DISTRIBUTIONS = ("bookworm", "trixie")
DEFAULT_LAB_NAME = "bizra"
DEFAULT_NETWORK_NAME = "bizra-lab"
DEFAULT_NETWORK_SUBNET = "10.89.10.0/24"


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    kind: str = "container"
    distribution: str = "bookworm"
    address_v6: str = ""
    vm_cpus: int = 2
    vm_memory_mib: int = 1536
    vm_nvme_disks: int = 0
    vm_nvme_size: str = "1G"


# Bounds of the VM settings: what software emulation on a small machine can carry.
VM_LIMITS = {"lab_vm_cpus": (1, 8), "lab_vm_memory_mib": (512, 16384), "lab_vm_nvme_disks": (0, 8)}
VM_DISK_SIZE = re.compile(r"^[1-9][0-9]*[MG]$")


@dataclass(frozen=True)
class LabSpec:
    name: str
    network_name: str
    network_subnet: str
    hosts: tuple[LabHost, ...]
    network_gateway: str = ""
    network_subnet_v6: str = ""
    network_gateway_v6: str = ""
    mirror_releases: tuple[Release, ...] = ()

    @property
    def gateway(self) -> str:
        return self.network_gateway or str(netaddr.IPNetwork(self.network_subnet).network + 1)

    def container_name(self, host: LabHost) -> str:
        return f"{self.name}-{host.name}"

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts)
        raise BadInputError(f"no lab host named {name!r}; the lab has: {known}")


def _one_value(hostvars: dict[str, dict], key: str, default: str) -> str:
    values = {str(hv.get(key, default)) for hv in hostvars.values()}
    if len(values) > 1:
        raise BadInputError(f"{key} must be the same for every lab host, found: {', '.join(sorted(values))}")
    return values.pop() if values else default


def lab_spec_from_inventory(inventory: dict) -> LabSpec:
    """Validate an ``ansible-inventory --list`` document and turn it into a LabSpec."""
    hostvars: dict[str, dict] = inventory.get("_meta", {}).get("hostvars", {})
    if not hostvars:
        raise BadInputError("the inventory defines no hosts")
    lab_name = _one_value(hostvars, "lab_name", DEFAULT_LAB_NAME)
    network_name = _one_value(hostvars, "lab_network_name", DEFAULT_NETWORK_NAME)
    subnet_text = _one_value(hostvars, "lab_network_subnet", DEFAULT_NETWORK_SUBNET)
    subnet, gateway = _network(hostvars, "lab_network_subnet", subnet_text, "lab_network_gateway", 4, 29)

    subnet_v6, gateway_v6 = _ipv6_network(hostvars)

    hosts: list[LabHost] = []
    seen: dict[str, str] = {}
    for name in sorted(hostvars):
        hv = hostvars[name]
        address_text = hv.get("ansible_host")
        if not address_text:
            raise BadInputError(f"lab host {name}: ansible_host is required (its static lab address)")
        try:
            address = netaddr.IPAddress(str(address_text))
        except (netaddr.AddrFormatError, ValueError):
            raise BadInputError(f"lab host {name}: ansible_host {address_text!r} is not an IP address") from None
        if address not in subnet or address in (subnet.network, subnet.broadcast, gateway):
            raise BadInputError(
                f"lab host {name}: ansible_host {address} must be a host address inside "
                f"lab_network_subnet {subnet} other than the gateway {gateway}"
            )
        if str(address) in seen:
            raise BadInputError(f"lab hosts {seen[str(address)]} and {name} share the address {address}")
        seen[str(address)] = name
        kind = str(hv.get("lab_kind", "container"))
        if kind not in LAB_KINDS:
            raise BadInputError(f"lab host {name}: lab_kind {kind!r} is not one of {', '.join(LAB_KINDS)}")
        distribution = str(hv.get("lab_distribution", "bookworm"))
        if distribution not in LAB_DISTRIBUTIONS:
            raise BadInputError(
                f"lab host {name}: lab_distribution {distribution!r} is not one of {', '.join(LAB_DISTRIBUTIONS)}"
            )
        address_v6 = _host_ipv6(name, hv, subnet_v6, gateway_v6)
        if address_v6 and address_v6 in seen:
            raise BadInputError(f"lab hosts {seen[address_v6]} and {name} share the address {address_v6}")
        if address_v6:
            seen[address_v6] = name
        hosts.append(LabHost(name=name, address=str(address), kind=kind, distribution=distribution,
                             address_v6=address_v6, **_vm_settings(name, hv)))
    return LabSpec(name=lab_name, network_name=network_name, network_subnet=str(subnet), hosts=tuple(hosts),
                   network_gateway=str(gateway), network_subnet_v6=str(subnet_v6 or ""),
                   network_gateway_v6=str(gateway_v6 or ""), mirror_releases=_mirror_releases(hostvars))


RELEASE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
RELEASE_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
GO_PACKAGE = re.compile(r"^[a-z0-9.-]+\.[a-z]+/[A-Za-z0-9._/-]+$")


def _mirror_releases(hostvars: dict[str, dict]) -> tuple[Release, ...]:
    """``lab_mirror_releases``: the releases the lab mirror serves, each {name, version} and either
    ``go_package`` (built from its Go module) or ``maven`` (a distribution assembled from Maven Central)."""
    values = {json.dumps(hv.get("lab_mirror_releases", []), sort_keys=True) for hv in hostvars.values()}
    if len(values) > 1:
        raise BadInputError("lab_mirror_releases must be the same for every lab host (set it for all)")
    entries = json.loads(values.pop()) if values else []
    if not isinstance(entries, list):
        raise BadInputError("lab_mirror_releases must be a list of {name, version, go_package or maven}")
    releases = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or set(entry) not in ({"name", "go_package", "version"},
                                                             {"name", "maven", "version"}):
            raise BadInputError(f"lab_mirror_releases #{index}: needs exactly name, version and one of go_package "
                                f"or maven, got {entry!r}")
        name, version = str(entry["name"]), str(entry["version"])
        checks = [("name", name, RELEASE_NAME, "lower-case letters, digits and -"),
                  ("version", version, RELEASE_VERSION, "a release version like 1.17.10 (no v)")]
        if "go_package" in entry:
            checks.append(("go_package", str(entry["go_package"]), GO_PACKAGE,
                           "a Go package path like github.com/ethereum/go-ethereum/cmd/geth"))
        elif entry["maven"] not in MAVEN_BUILDS:
            raise BadInputError(f"lab_mirror_releases #{index}: maven {entry['maven']!r} is not a distribution the "
                                f"mirror can assemble ({', '.join(sorted(MAVEN_BUILDS))})")
        for key, value, pattern, allowed in checks:
            if not pattern.match(value):
                raise BadInputError(f"lab_mirror_releases #{index}: {key} {value!r} is not {allowed}")
        releases.append(Release(name=name, version=version, go_package=str(entry.get("go_package", "")),
                                maven=str(entry.get("maven", ""))))
    return tuple(releases)


def _vm_settings(name: str, hv: dict) -> dict:
    settings: dict = {}
    for key, (low, high) in VM_LIMITS.items():
        if key not in hv:
            continue
        value = hv[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadInputError(f"lab host {name}: {key} {value!r} must be a whole number from {low} to {high}")
        settings[key.removeprefix("lab_")] = value
    if "lab_vm_nvme_size" in hv:
        size = str(hv["lab_vm_nvme_size"])
        if not VM_DISK_SIZE.match(size):
            raise BadInputError(f"lab host {name}: lab_vm_nvme_size {size!r} must be a size like 512M or 2G")
        settings["vm_nvme_size"] = size
    if settings and hv.get("lab_kind", "container") != "vm":
        raise BadInputError(f"lab host {name}: {', '.join('lab_' + k for k in settings)} apply to lab_kind: vm only")
    return settings


def _ipv6_network(hostvars: dict[str, dict]) -> tuple[netaddr.IPNetwork | None, netaddr.IPAddress | None]:
    text = _one_value(hostvars, "lab_network_subnet_v6", "")
    if not text:
        return None, None
    return _network(hostvars, "lab_network_subnet_v6", text, "lab_network_gateway_v6", 6, 120)


def _network(hostvars: dict[str, dict], subnet_var: str, subnet_text: str, gateway_var: str,
             version: int, max_prefixlen: int) -> tuple[netaddr.IPNetwork, netaddr.IPAddress]:
    """A lab subnet and the machine's address on it (default: the first address), validated."""
    try:
        subnet = netaddr.IPNetwork(subnet_text)
    except (netaddr.AddrFormatError, ValueError):
        raise BadInputError(f"{subnet_var}: {subnet_text!r} is not a CIDR network") from None
    if subnet.version != version or subnet.prefixlen > max_prefixlen:
        raise BadInputError(f"{subnet_var}: {subnet_text!r} must be an IPv{version} network "
                            f"of /{max_prefixlen} or larger")
    gateway_text = _one_value(hostvars, gateway_var, str(subnet.network + 1))
    try:
        gateway = netaddr.IPAddress(gateway_text)
    except (netaddr.AddrFormatError, ValueError):
        raise BadInputError(f"{gateway_var}: {gateway_text!r} is not an IP address") from None
    # IPv4 has network and broadcast addresses that no host may take; IPv6 has no broadcast.
    reserved = (subnet.network, subnet.broadcast) if version == 4 else ()
    if gateway not in subnet or gateway in reserved:
        raise BadInputError(f"{gateway_var}: {gateway} is not a host address of {subnet}")
    return subnet, gateway


def _host_ipv6(name: str, hv: dict, subnet: netaddr.IPNetwork | None, gateway: netaddr.IPAddress | None) -> str:
    text = hv.get("lab_ipv6")
    if not text:
        return ""
    if subnet is None:
        raise BadInputError(f"lab host {name}: lab_ipv6 is set but the lab has no lab_network_subnet_v6")
    try:
        address = netaddr.IPAddress(str(text))
    except (netaddr.AddrFormatError, ValueError):
        raise BadInputError(f"lab host {name}: lab_ipv6 {text!r} is not an IP address") from None
    if address not in subnet or address in (subnet.network, gateway):
        raise BadInputError(
            f"lab host {name}: lab_ipv6 {address} must be a host address inside lab_network_subnet_v6 {subnet} "
            f"other than the gateway {gateway}"
        )
    return str(address)


def ansible_tool(name: str) -> str:
    """Path of an Ansible CLI tool, preferring the one installed beside this Python."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise LabError(f"{name} not found: install the project with `make setup`")
    return found


def load_lab_spec(inventory_path: Path, limit: list[str] | None = None) -> LabSpec:
    """Read the lab inventory with ansible-inventory, optionally keeping only some hosts."""
    if not inventory_path.exists():
        raise BadInputError(f"inventory {inventory_path} does not exist")
    proc = subprocess.run(
        [ansible_tool("ansible-inventory"), "-i", str(inventory_path), "--list"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BadInputError(f"inventory {inventory_path} cannot be read:\n{proc.stderr.strip()}")
    spec = lab_spec_from_inventory(json.loads(proc.stdout))
    if limit:
        wanted = set(limit)
        unknown = wanted - {h.name for h in spec.hosts}
        if unknown:
            known = ", ".join(h.name for h in spec.hosts)
            raise BadInputError(f"unknown lab host(s) {', '.join(sorted(unknown))}; the lab has: {known}")
        spec = dataclasses.replace(spec, hosts=tuple(h for h in spec.hosts if h.name in wanted))
    return spec
