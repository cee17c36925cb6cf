import re

import pytest

from bizractl.errors import BadInputError
from bizractl.lab.spec import lab_spec_from_inventory


def inventory(**hosts) -> dict:
    return {"_meta": {"hostvars": hosts}}


def test_spec_from_inventory_with_defaults():
    spec = lab_spec_from_inventory(inventory(pg1={"ansible_host": "10.89.10.31"},
                                             edge1={"ansible_host": "10.89.10.11", "lab_distribution": "trixie"}))
    assert spec.name == "bizra" and spec.network_name == "bizra-lab"
    assert [h.name for h in spec.hosts] == ["edge1", "pg1"]
    assert spec.hosts[0].distribution == "trixie"
    assert spec.gateway == "10.89.10.1"
    assert spec.container_name(spec.hosts[1]) == "bizra-pg1"


def test_lab_settings_come_from_inventory():
    spec = lab_spec_from_inventory(inventory(a={"ansible_host": "10.9.0.5", "lab_name": "t",
                                                "lab_network_name": "t-net", "lab_network_subnet": "10.9.0.0/24"}))
    assert (spec.name, spec.network_name, spec.network_subnet) == ("t", "t-net", "10.9.0.0/24")


def test_dual_stack_lab():
    network = {"lab_network_subnet": "10.89.30.0/24", "lab_network_gateway": "10.89.30.254",
               "lab_network_subnet_v6": "fd89:30::/64",
               "lab_network_gateway_v6": "fd89:30::fe"}
    spec = lab_spec_from_inventory(inventory(r1={"ansible_host": "10.89.30.1", "lab_ipv6": "fd89:30::1", **network},
                                             r2={"ansible_host": "10.89.30.2", **network}))
    assert (spec.network_subnet_v6, spec.network_gateway_v6) == ("fd89:30::/64", "fd89:30::fe")
    assert [h.address_v6 for h in spec.hosts] == ["fd89:30::1", ""]


@pytest.mark.parametrize(
    ("hostvars", "message"),
    [
        ({"a": {"ansible_host": "10.89.10.5", "lab_ipv6": "fd00::5"}}, "lab_ipv6 is set but the lab has no"),
        ({"a": {"ansible_host": "10.89.10.5", "lab_ipv6": "fd01::5", "lab_network_subnet_v6": "fd00::/64"}},
         "must be a host address inside lab_network_subnet_v6 fd00::/64"),
        ({"a": {"ansible_host": "10.89.10.5", "lab_network_subnet_v6": "10.0.0.0/8"}}, "must be an IPv6 network"),
    ],
)
def test_bad_ipv6_lab_settings(hostvars, message):
    with pytest.raises(BadInputError, match=re.escape(message)):
        lab_spec_from_inventory(inventory(**hostvars))


def test_gateway_can_be_moved_off_the_first_address():
    spec = lab_spec_from_inventory(inventory(r1={"ansible_host": "203.0.113.1", "lab_network_subnet": "203.0.113.0/24",
                                                 "lab_network_gateway": "203.0.113.254"}))
    assert spec.gateway == "203.0.113.254"
    assert spec.hosts[0].address == "203.0.113.1"


@pytest.mark.parametrize(
    ("hostvars", "message"),
    [
        ({"a": {}}, "lab host a: ansible_host is required"),
        ({"a": {"ansible_host": "pg1.example"}}, "'pg1.example' is not an IP address"),
        ({"a": {"ansible_host": "192.168.1.5"}}, "must be a host address inside lab_network_subnet 10.89.10.0/24"),
        ({"a": {"ansible_host": "10.89.10.1"}}, "other than the gateway 10.89.10.1"),
        ({"a": {"ansible_host": "10.89.10.5"}, "b": {"ansible_host": "10.89.10.5"}}, "share the address 10.89.10.5"),
        ({"a": {"ansible_host": "10.89.10.5", "lab_kind": "lxc"}}, "lab_kind 'lxc' is not one of container, vm"),
        ({"a": {"ansible_host": "10.89.10.5", "lab_distribution": "sid"}}, "lab_distribution 'sid' is not one of"),
        ({"a": {"ansible_host": "10.89.10.5", "lab_network_subnet": "10.89.10.0/33"}}, "is not a CIDR network"),
        ({"a": {"ansible_host": "10.89.10.5", "lab_network_gateway": "10.1.1.1"}},
         "lab_network_gateway: 10.1.1.1 is not a host address of 10.89.10.0/24"),
        ({"a": {"ansible_host": "10.89.10.5", "lab_name": "x"}, "b": {"ansible_host": "10.89.10.6"}},
         "lab_name must be the same for every lab host"),
    ],
)
def test_bad_lab_inventory_is_refused_with_the_entry_named(hostvars, message):
    with pytest.raises(BadInputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        lab_spec_from_inventory(inventory(**hostvars))


def test_empty_inventory():
    with pytest.raises(BadInputError, match="no hosts"):
        lab_spec_from_inventory({})


def test_vm_settings():
    spec = lab_spec_from_inventory(inventory(
        node1={"ansible_host": "10.9.0.5", "lab_network_subnet": "10.9.0.0/24", "lab_kind": "vm",
               "lab_vm_cpus": 4, "lab_vm_memory_mib": 4096,
               "lab_vm_nvme_disks": 4, "lab_vm_nvme_size": "2G"},
        node2={"ansible_host": "10.9.0.6", "lab_kind": "vm", "lab_network_subnet": "10.9.0.0/24"}))
    node1, node2 = spec.hosts
    assert (node1.kind, node1.vm_cpus, node1.vm_memory_mib, node1.vm_nvme_disks, node1.vm_nvme_size) == \
        ("vm", 4, 4096, 4, "2G")
    assert (node2.vm_cpus, node2.vm_memory_mib, node2.vm_nvme_disks) == (2, 1536, 0)


@pytest.mark.parametrize(("hostvars", "message"), [
    ({"lab_kind": "vm", "lab_vm_cpus": 0}, "lab host a: lab_vm_cpus 0 must be a whole number from 1 to 8"),
    ({"lab_kind": "vm", "lab_vm_memory_mib": "2G"}, "lab_vm_memory_mib '2G' must be a whole number from 512"),
    ({"lab_kind": "vm", "lab_vm_nvme_disks": True}, "lab_vm_nvme_disks True must be a whole number from 0 to 8"),
    ({"lab_kind": "vm", "lab_vm_nvme_size": "2T"}, "lab_vm_nvme_size '2T' must be a size like 512M or 2G"),
    ({"lab_vm_cpus": 2}, "lab host a: lab_vm_cpus apply to lab_kind: vm only"),
])
def test_bad_vm_settings_are_refused(hostvars, message):
    with pytest.raises(BadInputError, match=re.escape(message)):
        lab_spec_from_inventory(inventory(a={"ansible_host": "10.89.10.5", **hostvars}))


GETH = {"name": "geth", "go_package": "github.com/ethereum/go-ethereum/cmd/geth", "version": "1.17.10"}


def test_mirror_releases_come_from_the_inventory():
    spec = lab_spec_from_inventory(inventory(a={"ansible_host": "10.89.10.5", "lab_mirror_releases": [GETH]},
                                             b={"ansible_host": "10.89.10.6", "lab_mirror_releases": [GETH]}))
    (release,) = spec.mirror_releases
    assert (release.name, release.version, release.go_module) == ("geth", "1.17.10", "github.com/ethereum/go-ethereum")
    assert lab_spec_from_inventory(inventory(a={"ansible_host": "10.89.10.5"})).mirror_releases == ()


def test_a_maven_release_is_a_distribution_the_mirror_assembles():
    opensearch = {"name": "opensearch", "maven": "opensearch", "version": "2.19.6"}
    spec = lab_spec_from_inventory(inventory(a={"ansible_host": "10.89.10.5",
                                                "lab_mirror_releases": [GETH, opensearch]}))
    assert [(r.name, r.maven, r.go_package) for r in spec.mirror_releases] == [
        ("geth", "", GETH["go_package"]), ("opensearch", "opensearch", "")]


@pytest.mark.parametrize(("releases", "message"), [
    ([{**GETH, "version": "v1.17.10"}], "lab_mirror_releases #1: version 'v1.17.10' is not a release version"),
    ([{**GETH, "name": "Geth"}], "lab_mirror_releases #1: name 'Geth' is not lower-case letters"),
    ([{**GETH, "go_package": "geth"}], "lab_mirror_releases #1: go_package 'geth' is not a Go package path"),
    ([GETH, {"name": "geth"}], "lab_mirror_releases #2: needs exactly name, version and one of go_package or maven"),
    ([{"name": "opensearch", "maven": "elasticsearch", "version": "8.11.4"}],
     "lab_mirror_releases #1: maven 'elasticsearch' is not a distribution the mirror can assemble (opensearch)"),
    ("geth", "lab_mirror_releases must be a list"),
])
def test_bad_mirror_releases_are_refused_naming_the_entry(releases, message):
    with pytest.raises(BadInputError, match=re.escape(message)):
        lab_spec_from_inventory(inventory(a={"ansible_host": "10.89.10.5", "lab_mirror_releases": releases}))


def test_mirror_releases_must_be_the_same_for_every_host():
    with pytest.raises(BadInputError, match="lab_mirror_releases must be the same for every lab host"):
        lab_spec_from_inventory(inventory(a={"ansible_host": "10.89.10.5", "lab_mirror_releases": [GETH]},
                                          b={"ansible_host": "10.89.10.6"}))
