"""bizractl validate: the inventory checked offline against the roles' specs and rules.

Each case breaks a copy of a shipped inventory the way an SRE would, and the checks must name the
host, the variable and the bad value, all at once; the shipped inventories pass. The host facts
some rules need come from a fact cache written with Ansible's own cache plugin (the controller's
cache after a run), so those rules are evaluated too.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from rich.console import Console

from bizractl import lifecycle, runlock
from bizractl.cli import main
from bizractl.errors import BadInputError
from bizractl.exitcodes import EXIT_BAD_INPUT, EXIT_OK
from bizractl.lab import manager
from bizractl.settings import Settings
from bizractl.validate import Finding, Result, format_findings, grouped, validate

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / "playbooks" / "site.yml"
FIXTURES = ROOT / "tests" / "unit" / "fixtures"
FACTS = {
    "ansible_os_family": "Debian", "ansible_distribution": "Debian", "ansible_distribution_release": "bookworm",
    "ansible_distribution_major_version": "12", "ansible_distribution_version": "12.8",
    "ansible_memtotal_mb": 65536, "ansible_processor_vcpus": 16, "ansible_architecture": "x86_64",
    "ansible_virtualization_type": "kvm", "ansible_virtualization_role": "host", "ansible_system": "Linux",
    "ansible_kernel": "6.1.0-28-amd64",
}
VAULT_PASSWORD = "unit-test-vault-password"


def _write_fact_cache(directory: Path, hosts: list[str], facts: dict) -> None:
    # In a child: Ansible's plugin loader reads ansible.cfg once per process.
    code = ("import json, sys\nfrom ansible.plugins.loader import cache_loader\n"
            "cache = cache_loader.get('jsonfile', _uri=sys.argv[1], _timeout=0)\n"
            "for host in sys.argv[3:]:\n    cache.set(host, json.loads(sys.argv[2]))\n")
    subprocess.run([sys.executable, "-c", code, str(directory), json.dumps(facts), *hosts], check=True,
                   env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, cwd=ROOT)


def _hosts(inventory: Path) -> list[str]:
    names: list[str] = []

    def walk(group: dict) -> None:
        names.extend((group.get("hosts") or {}).keys())
        for child in (group.get("children") or {}).values():
            walk(child or {})

    walk(yaml.safe_load((inventory / "hosts.yml").read_text())["all"])
    return sorted(set(names))


@pytest.fixture(scope="module", autouse=True)
def lab_home(tmp_path_factory):
    """What `bizractl lab up` leaves in the lab's home and the lab inventory reads (its SSH public
    key, the mirror's release records and signing key), so that the lab inventory validates on a
    machine that never ran a lab. Records as the mirror writes them, for each pinned release; the
    HSM appliance's certificate as lab up makes it."""
    home = tmp_path_factory.mktemp("lab-home")
    (home / "ssh").mkdir()
    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    (home / "ssh" / "id_ed25519.pub").write_bytes(public + b" bizra-lab\n")
    releases = yaml.safe_load((ROOT / "inventories/lab/group_vars/all.yml").read_text())["lab_mirror_releases"]
    assert releases, "the lab inventory pins no release"
    for release in releases:
        name, version = release["name"], release["version"]
        (home / "mirror" / name).mkdir(parents=True, exist_ok=True)
        record = {"name": name, "version": version, "build_id": "2474dfa8" if "go_package" in release else "maven",
                  "file": f"{name}-{version}-linux-x64.tar.gz", "sha256": "ab" * 32}
        (home / "mirror" / name / f"{name}-{version}.json").write_text(json.dumps(record))
    (home / "mirror" / "lab-signing-key.asc").write_text(
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nunit test\n-----END PGP PUBLIC KEY BLOCK-----\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BIZRA_LAB_HOME", str(home))
        assert manager.appliance_certificate() == home / "hsm" / "luna-lab.crt"
        yield home


@pytest.fixture(scope="module")
def facts(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("facts")
    _write_fact_cache(directory, _hosts(ROOT / "inventories/lab"), FACTS)
    # Production: dual EPYC 7763 with 512 GiB (seed 001).
    _write_fact_cache(directory, _hosts(ROOT / "inventories/production"),
                      FACTS | {"ansible_processor_vcpus": 128, "ansible_memtotal_mb": 524288})
    return directory


def _copy(name: str, tmp_path: Path) -> Path:
    inventory = tmp_path / name
    shutil.copytree(ROOT / "inventories" / name, inventory)
    return inventory


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    change(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _production(tmp_path: Path) -> tuple[Path, Path]:
    """The production inventory as a site completes it: its secrets vault-encrypted beside it."""
    inventory = _copy("production", tmp_path)
    password = tmp_path / "vault-pass"
    password.write_text(VAULT_PASSWORD + "\n")
    vault = inventory / "group_vars/all/vault.yml"
    shutil.copy(FIXTURES / "production-site-values.yml", vault)
    subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt", "--vault-password-file",
                    str(password), str(vault)], check=True, capture_output=True)
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    return inventory, password


def _messages(result: Result) -> list[str]:
    return [f"{','.join(f.hosts)} [{f.source}] {f.message}" for f in result.findings]


def test_the_lab_inventory_passes_every_check(facts):
    result = validate(ROOT, ROOT / "inventories/lab", SITE, fact_cache=facts)
    assert result.ok, _messages(result)
    assert result.hosts == 7 and result.checks > 100
    # With facts cached nothing is left unevaluated (base's input check skips the one term that
    # needs its probe of the host, the time zone file).
    assert result.host_side == 0


def test_the_production_inventory_with_its_vaulted_secrets_passes(facts, tmp_path):
    inventory, password = _production(tmp_path)
    result = validate(ROOT, inventory, SITE, vault_password_file=password, fact_cache=facts)
    assert result.ok, _messages(result)
    assert result.hosts == 21


def test_vaulted_inventory_without_its_password_is_a_clear_error(facts, tmp_path):
    inventory, _ = _production(tmp_path)
    with pytest.raises(BadInputError, match="vault-encrypted data and no vault password was given: "
                                            "pass --vault-password-file"):
        validate(ROOT, inventory, SITE, fact_cache=facts)


def test_each_undefined_vault_variable_is_named_with_what_needs_it(facts):
    result = validate(ROOT, ROOT / "inventories/production", SITE, fact_cache=facts)
    text = "\n".join(_messages(result))
    assert ("edge-fra-1 [frr_bgp] frr_bgp_neighbors (transit-a) needs the secret vault_bgp_transit_a_password, "
            "which is undefined: define it in a vault file") in text
    assert "frr_bgp_neighbors (transit-b) needs the secret vault_bgp_transit_b_password" in text
    assert "pg-fra-3 [postgresql] postgresql_users (reporting) needs the secret vault_pg_reporting_password" in text
    assert "mon-fra-1 [alertmanager] alertmanager_receivers (sre-pager) needs the secret " \
           "vault_alertmanager_pagerduty_key" in text
    # Once per host and secret, never Ansible's raw "'vault_...' is undefined".
    assert text.count("edge-fra-1 [frr_bgp] frr_bgp_neighbors (transit-a)") == 1
    assert "is undefined. " not in text and "Error while evaluating" not in text


def test_a_broken_inventory_gets_every_problem_at_once(facts, tmp_path):
    """The corpus: each mistake named with its host, variable and value; none hides another."""
    inventory = _copy("lab", tmp_path)

    def all_vars(data):
        users = data.setdefault("base_admin_users", [])
        users.append({"name": "oncall2", "groups": [], "ssh_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG6Zq2tq1o1QJk0y0yyN6c2oM8hJb4HZ3Cg oncall2@bizra"]})
    _edit(inventory / "group_vars/all.yml", all_vars)
    _edit(inventory / "group_vars/postgresql.yml", lambda d: d.update(
        postgresql_settings={"shared_buffers": "lots", "work_mem": "64MB"}, postgresql_synchronous_count=3))
    _edit(inventory / "group_vars/edge_routers.yml", lambda d: d["frr_bgp_neighbors"][0].update(
        password="{{ vault_lab_transit_a_password }}"))
    _edit(inventory / "group_vars/geth.yml", lambda d: d.update(geth_network="marsnet"))
    _edit(inventory / "group_vars/influxdb.yml", lambda d: d.update(influxdb_databases=[
        {"name": "markets", "retention_policies": [{"name": "raw", "duration": "ninety days", "default": True}]}]))
    _edit(inventory / "host_vars/svc1.yml", lambda d: d.update(nftables_rules=[
        {"name": "metrics_in", "proto": "tcp", "ports": [9999],
         "sources": "{{ groups['no_such_group'] | default([]) }}"}]))

    def hosts(data):
        groups = data["all"]["children"]
        groups["monitoring"]["hosts"]["mon1"]["ansible_host"] = "10.89.10.31"  # pg1's address
        groups["postgresql"]["children"]["postgresql_primary"]["hosts"]["pg2"] = None  # a second primary
    _edit(inventory / "hosts.yml", hosts)
    _edit(inventory / "host_vars/upstream1.yml", lambda d: d.update(frr_bgp_router_id="10.89.10.11"))

    result = validate(ROOT, inventory, SITE, fact_cache=facts)
    text = "\n".join(_messages(result))
    expected = [
        "base_admin_users ssh_keys: oncall2's key 1 (ssh-ed25519 AAAAC3NzaC1l...): its base64 key does not decode",
        "postgresql_settings: shared_buffers 'lots' is not a size",
        "postgresql_synchronous_count 3 is more than the",
        "the postgresql_primary group must hold exactly one host, it holds: pg1, pg2",
        "edge1 [frr_bgp] frr_bgp_neighbors (transit-a) needs the secret vault_lab_transit_a_password",
        "svc1 [geth] argument spec: value of geth_network must be one of: mainnet, sepolia, hoodi, private, "
        "got: marsnet",
        "influxdb_databases: retention policy duration 'ninety days' is not INF or a duration like 90d",
        "svc1 [nftables] nftables: invalid input on svc1: rule 'metrics_in' (nftables_rules): sources must be a "
        "non-empty list",
        "mon1,pg1 [rule duplicate_addresses] ansible_host 10.89.10.31 (port 22) is given to 2 hosts",
        "edge1 [frr_bgp] frr_bgp: invalid input on edge1: frr_bgp_router_id 10.89.10.11 is also used by ['upstream1']",
    ]
    missing = [e for e in expected if e not in text]
    assert not missing, f"not reported: {missing}\nreported:\n{text}"
    assert "work_mem" not in text  # a good size is not reported
    assert "Traceback" not in text


def test_disk_serials_claimed_twice_are_found_across_hosts(facts, tmp_path):
    inventory, password = _production(tmp_path)
    _edit(inventory / "hosts.yml", lambda d: d["all"]["children"]["geth"]["hosts"]["geth-fra-2"].update(
        storage_chain_serials=["PHAL1201", "PHAL1202", "PHAL1203", "PHAL1104"]))
    result = validate(ROOT, inventory, SITE, vault_password_file=password, fact_cache=facts)
    assert _messages(result) == [
        "geth-fra-1,geth-fra-2 [rule duplicate_disk_serials] disk serial PHAL1104 is listed in 2 arrays "
        "(geth-fra-1:chain, geth-fra-2:chain)"]


def test_a_bgp_neighbour_that_resolves_to_nothing_is_the_roles_own_check(facts, tmp_path):
    inventory = _copy("lab", tmp_path)
    _edit(inventory / "group_vars/edge_routers.yml", lambda d: d["frr_bgp_neighbors"][1].update(
        address="{{ groups['no_such_upstreams'] | default([]) | first | default('') }}"))
    result = validate(ROOT, inventory, SITE, fact_cache=facts)
    assert _messages(result) == [
        "edge1 [frr_bgp] frr_bgp: invalid input on edge1: frr_bgp_neighbors addresses [''] are not IP addresses"]


def test_limit_reports_only_those_hosts_problems(facts, tmp_path):
    inventory = _copy("lab", tmp_path)
    _edit(inventory / "group_vars/geth.yml", lambda d: d.update(geth_network="marsnet"))
    limited = validate(ROOT, inventory, SITE, fact_cache=facts, limit="pg1")
    assert limited.ok
    # Only the limited host's roles are evaluated (their findings are the only ones reported).
    assert limited.hosts == 1
    assert not validate(ROOT, inventory, SITE, fact_cache=facts, limit="svc1").ok


def test_one_message_many_hosts_share_is_shown_once_with_the_hosts():
    findings = [Finding(("pg1",), "postgresql", "postgresql: invalid input on pg1: bad"),
                Finding(("pg2",), "postgresql", "postgresql: invalid input on pg2: bad"),
                Finding(("pg3",), "postgresql", "postgresql: invalid input on pg3: other")]
    assert grouped(findings) == [
        Finding(("pg1", "pg2"), "postgresql", "postgresql: invalid input on each host: bad"),
        Finding(("pg3",), "postgresql", "postgresql: invalid input on pg3: other")]
    text = format_findings(Result(tuple(findings), 3, 3, 0, 0.1), Path("lab"))
    assert "2 problem(s)" in text and "pg1, pg2 [postgresql]" in text


def test_cli_exit_codes_and_json(tmp_path):
    inventory = _copy("lab", tmp_path)
    ok = CliRunner().invoke(main, ["--project", str(ROOT), "validate", "-i", str(inventory)])
    assert ok.exit_code == EXIT_OK, ok.output
    assert "inventory lab: 7 hosts" in ok.output and "checks passed" in ok.output
    _edit(inventory / "group_vars/geth.yml", lambda d: d.update(geth_network="marsnet"))
    bad = CliRunner().invoke(main, ["--project", str(ROOT), "validate", "-i", str(inventory), "--json"])
    assert bad.exit_code == EXIT_BAD_INPUT
    answer = json.loads(bad.output)
    assert answer["ok"] is False and answer["problems"][0]["hosts"] == ["svc1"]
    assert "got: marsnet" in answer["problems"][0]["message"]


def test_deploy_stops_at_its_start_gate_on_bad_input_and_records_nothing(tmp_path, monkeypatch):
    """The checks run while ansible-playbook starts; it waits at its start gate and ends there."""
    inventory = _copy("lab", tmp_path)
    _edit(inventory / "group_vars/geth.yml", lambda d: d.update(geth_network="marsnet"))
    runs_dir = tmp_path / "runs"
    settings = Settings.load({"BIZRA_RUNS_DIR": str(runs_dir)}, project=str(ROOT))
    events = []
    original = lifecycle.RunRecorder.handle
    monkeypatch.setattr(lifecycle.RunRecorder, "handle", lambda self, event: (events.append(event["event"]),
                                                                              original(self, event)))
    with pytest.raises(BadInputError, match=r"(?s)problem.*svc1 \[geth\].*marsnet.*--no-validate"):
        lifecycle.run(settings, lifecycle.RunRequest("site", inventory=str(inventory)),
                      Console(file=io.StringIO()))
    assert "playbook_on_start" in events  # ansible-playbook did start, side by side with the checks
    assert set(events) <= lifecycle.StartGate.BEFORE_THE_FIRST_PLAY, events  # and no play began
    assert [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")] == []  # no run, no audit
    runlock.acquire(runs_dir, inventory, SITE).release()  # and the lock is free


def test_a_yaml_error_names_the_file_and_line(tmp_path):
    inventory = _copy("lab", tmp_path)
    (inventory / "group_vars/geth.yml").write_text("geth_network: [mainnet\ngeth_sync_mode: full\n")
    result = CliRunner().invoke(main, ["--project", str(ROOT), "validate", "-i", str(inventory)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "group_vars/geth.yml" in result.output and "line 2" in result.output
