"""The luna_client module against the LunaCM stand-in (tests/hsm/luna_standin, a labelled test
stand-in): partitions visible, M-of-N as declared, HA groups as Chrystoki.conf declares them;
nothing on lunacm's command line; read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
LUNACM = ROOT / "tests" / "hsm" / "luna_standin" / "lunacm"
ANSIBLE_LOCAL = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-i", "localhost,",
                 "-e", "ansible_python_interpreter={{ ansible_playbook_python }}"]
PARTITIONS = [
    {"label": "trading-operations", "serials": ["1001", "2001"], "m_of_n": {"m": 3, "n": 5}},
    {"label": "user-authentication", "serials": ["1002"], "m_of_n": {"m": 2, "n": 3}},
]
HA_CONFIG = """VirtualToken = {
   VirtualToken00Label = trading-operations;
   VirtualToken00SN = 11001;
   VirtualToken00Members = 1001,2001;
}
HAConfiguration = {
   HAOnly = 1;
}
"""


@pytest.fixture
def appliance(tmp_path: Path) -> Path:
    """The stand-in's state: the partitions the appliances assigned to this client."""
    state = {"partitions": [
        {"serial": "1001", "label": "trading-operations", "m": 3, "n": 5},
        {"serial": "2001", "label": "trading-operations", "m": 3, "n": 5},
        {"serial": "1002", "label": "user-authentication", "m": 2, "n": 3},
    ]}
    (tmp_path / "state.json").write_text(json.dumps(state))
    (tmp_path / "Chrystoki.conf").write_text(HA_CONFIG)
    return tmp_path


def run(directory: Path, partitions=PARTITIONS, ha_only=True, *flags: str) -> dict:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
           "LUNA_STANDIN_DIR": str(directory), "ChrystokiConfigurationPath": str(directory)}
    args = {"lunacm": str(LUNACM), "client_name": "signer-fra-1", "partitions": partitions, "ha_only": ha_only}
    result = subprocess.run([*ANSIBLE_LOCAL, "-m", "bizra.infra.luna_client", "-a", json.dumps(args), *flags],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    return json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_partitions_policies_and_groups_as_declared(appliance):
    result = run(appliance)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    policies = {(p["serial"], p["m"], p["n"]) for p in result["policies"]}
    assert policies == {("1001", 3, 5), ("2001", 3, 5), ("1002", 2, 3)}
    assert result["groups"] == {"trading-operations": ["1001", "2001"]}
    calls = (appliance / "calls.log").read_text().splitlines()
    assert all(call.startswith("lunacm argv=[] stdin: ") for call in calls), calls  # nothing on the command line
    assert "slot set -slot 2" in (appliance / "calls.log").read_text()  # each serial's own slot was read


def test_a_policy_that_differs_fails_naming_it(appliance):
    state = json.loads((appliance / "state.json").read_text())
    state["partitions"][1]["m"] = 2
    (appliance / "state.json").write_text(json.dumps(state))
    result = run(appliance)
    assert result["failed"]
    assert ("partition trading-operations (serial 2001): M of N is 2 of 5 on the HSM, the inventory expects 3 of 5"
            in result["msg"])
    assert "never changes a policy" in result["msg"]


def test_a_partition_not_assigned_to_the_client_names_the_appliance_steps(appliance):
    partitions = [{**PARTITIONS[0], "serials": ["1001", "9999"]}, PARTITIONS[1]]
    result = run(appliance, partitions)
    assert result["failed"]
    assert "partition trading-operations (serial 9999) is not visible to this client" in result["msg"]
    assert "client assignPartition -client signer-fra-1 -partition trading-operations" in result["msg"]


def test_an_ha_group_that_differs_from_the_declaration_fails(appliance):
    (appliance / "Chrystoki.conf").write_text(HA_CONFIG.replace("1001,2001", "1001"))
    result = run(appliance)
    assert result["failed"]
    assert "HA group trading-operations has the members 1001, the inventory declares 1001, 2001" in result["msg"]
    (appliance / "Chrystoki.conf").write_text(HA_CONFIG.replace("HAOnly = 1", "HAOnly = 0"))
    assert "HA-only mode is off" in run(appliance)["msg"]
    assert not run(appliance, ha_only=False).get("failed")
