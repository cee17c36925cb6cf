"""The shipped inventories parse and describe the documented topology."""

import json
import subprocess
import sys
from pathlib import Path

from bizractl.lab.spec import lab_spec_from_inventory

ROOT = Path(__file__).resolve().parents[2]


def inventory(name: str) -> dict:
    tool = Path(sys.executable).parent / "ansible-inventory"
    out = subprocess.run([str(tool), "-i", str(ROOT / "inventories" / name), "--list"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def hosts_of(data: dict, group: str) -> set[str]:
    entry = data.get(group, {})
    hosts = set(entry.get("hosts", []))
    for child in entry.get("children", []):
        hosts |= hosts_of(data, child)
    return hosts


def test_production_topology_matches_the_specification():
    data = inventory("production")
    assert len(hosts_of(data, "geth")) == 2
    assert len(hosts_of(data, "rpc_gateways")) == 2
    assert len(hosts_of(data, "postgresql_primary")) == 1
    assert len(hosts_of(data, "postgresql_replicas")) == 3
    assert len(hosts_of(data, "influxdb")) == 1
    assert len(hosts_of(data, "logging")) == 5
    assert len(hosts_of(data, "edge_routers")) == 2
    assert hosts_of(data, "hsm_clients") and hosts_of(data, "monitoring")
    hostvars = data["_meta"]["hostvars"]
    addresses = [hv["ansible_host"] for hv in hostvars.values()]
    assert len(addresses) == len(set(addresses))
    # production never logs in as root
    assert {hv["ansible_user"] for hv in hostvars.values()} == {"sre"}


def test_lab_mirrors_production_groups_and_is_a_valid_lab():
    lab, production = inventory("lab"), inventory("production")
    for group in ("edge_routers", "geth", "postgresql_primary", "postgresql_replicas", "influxdb", "logging",
                  "hsm_clients", "monitoring"):
        assert hosts_of(lab, group), f"lab has no host in {group}"
        assert hosts_of(production, group), f"production has no host in {group}"
    spec = lab_spec_from_inventory(lab)
    assert len(spec.hosts) == 7
    assert all(h.kind == "container" for h in spec.hosts)
