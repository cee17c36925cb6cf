"""The filter entry files: each filter is registered, documented under its own name, and works
through Ansible's own templating (not only the plugin_utils functions)."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
FILTER_DIR = ROOT / "plugins" / "filter"
BIN = Path(sys.executable).parent


def registered_filters() -> dict[str, str]:
    """Filter name -> entry file, read from each file's FilterModule.filters() dict literal."""
    names = {}
    for path in sorted(FILTER_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "filters":
                (returned,) = [n.value for n in ast.walk(node) if isinstance(n, ast.Return)]
                names.update({key.value: path.name for key in returned.keys})
    return names


def test_every_filter_has_its_own_documentation():
    names = registered_filters()
    assert len(names) >= 16
    result = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "filter", "--json", *[f"bizra.infra.{name}" for name in names]],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)
    for name in names:
        doc = docs[f"bizra.infra.{name}"]["doc"]
        assert doc["name"] == name, f"ansible-doc shows {doc['name']}'s documentation for {name}"
        assert doc["short_description"] and docs[f"bizra.infra.{name}"]["examples"]
    # no documentation file for a filter that does not exist
    sidecars = {path.stem for path in FILTER_DIR.glob("*.yml")}
    assert sidecars == set(names)


def test_filters_through_ansible_templating(tmp_path):
    playbook = tmp_path / "filters.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg:
          communities: "{{ ['no-export', '65000:100', '65000:100'] | bizra.infra.bgp_community_sort }}"
          bad_communities: "{{ ['65000:70000', 'no-export'] | bizra.infra.invalid_communities }}"
          host_kind: "{{ {'virtualization_role': 'guest', 'virtualization_type': 'podman'} | bizra.infra.host_kind }}"
          cpus: "{{ '2-4,7' | bizra.infra.cpu_list }}"
          drift: "{{ {'vm.swappiness': 1, 'a.b': 2} | bizra.infra.sysctl_drift({'vm.swappiness': '10'}) }}"
          networks: "{{ ['192.0.2.0/24', '192.0.2.1/24', '192.0.2.7/32'] | bizra.infra.invalid_networks(4) }}"
          sources: "{{ ['192.0.2.7', 'x'] | bizra.infra.invalid_sources }}"
          ports: "{{ [22, '9000-8000'] | bizra.infra.invalid_ports }}"
          families: "{{ ['2001:db8::/64', '198.51.100.9'] | bizra.infra.sources_by_family }}"
          literal: "{{ \\"it's\\" | bizra.infra.influxql_string }}"
          shared_buffers: "{{ (16384 | bizra.infra.pg_tuned_settings(8)).shared_buffers }}"
          job_errors: "{{ [{'name': 'node', 'group': 'all', 'port': 99999}] | bizra.infra.prometheus_job_errors }}"
          ssh_keys: "{{ {'carol': ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoq']}
                        | bizra.infra.ssh_public_key_errors }}"
""")
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json",
             "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"})
    assert result.returncode == 0, result.stdout + result.stderr
    msg = json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    assert msg["communities"] == ["65000:100", "no-export"]
    assert msg["bad_communities"] == ["65000:70000"]
    assert msg["host_kind"] == "container"
    assert msg["cpus"] == [2, 3, 4, 7]
    assert msg["drift"] == ["vm.swappiness"]
    assert msg["networks"] == ["192.0.2.1/24"]
    assert msg["sources"] == ["x"]
    assert msg["ports"] == ["9000-8000"]
    assert msg["families"] == {"ipv4": ["198.51.100.9/32"], "ipv6": ["2001:db8::/64"]}
    assert msg["literal"] == "'it\\'s'"
    assert msg["shared_buffers"] == "4GB"
    assert any("99999" in error for error in msg["job_errors"])
    assert msg["ssh_keys"] == [
        "carol's key 1 (ssh-ed25519 AAAAC3NzaC1l...): its key is cut short: a field runs past the end"]
