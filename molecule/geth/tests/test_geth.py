"""Two real geth nodes on a private chain, driven through the engine API by the test consensus
driver on cl1: blocks, peering, the JWT, the unit's sandbox, refused configs and releases, a
rolling upgrade and rollback behind the health gate. Runs in file order (the last tests change
the running release)."""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from scenario_helpers import assert_nothing_changed, lab_key, ssh_host, wait_for
from scenario_helpers import run_playbook as run_scenario_playbook

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "geth"))
from engine_driver import jwt_token  # noqa: E402  (the test driver's own JWT maker)

ADDRESSES = {"geth1": "10.89.80.11", "geth2": "10.89.80.12", "cl1": "10.89.80.20"}
NODES = ("geth1", "geth2")
SECRETS = lab_key().parent.parent / "secrets"
GETH_PLAYBOOK = str(ROOT / "playbooks" / "geth.yml")
ROLLBACK_PLAYBOOK = str(ROOT / "playbooks" / "incident" / "geth_rollback.yml")
FIRST_VERSION, SECOND_VERSION = "1.17.9", "1.17.10"


def run_playbook(playbook: str, *args: str):
    """The scenario helper, with the output's whitespace folded (the YAML callback wraps messages)."""
    code, output, recap = run_scenario_playbook(playbook, *args)
    return code, " ".join(output.split()), recap


@pytest.fixture(scope="module")
def hosts():
    return {name: ssh_host(address) for name, address in ADDRESSES.items()}


def console(host, expression: str) -> str:
    """Evaluate a geth console expression over the node's IPC socket (on the host, as root)."""
    return host.check_output(f"/opt/geth/current/geth attach --exec '{expression}' /var/lib/geth/geth.ipc").strip('"')


def head(host) -> int:
    return int(console(host, "eth.blockNumber"))


def main_pid(host) -> str:
    return host.check_output("systemctl show -p MainPID --value geth")


def running_version(host) -> str:
    return host.check_output("readlink /proc/$(systemctl show -p MainPID --value geth)/exe")


def engine_call(address: str, token: str | None) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "engine_exchangeCapabilities", "params": [[]]}).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://{address}:8551", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def driver_log_since(hosts, since: str) -> list[str]:
    return hosts["cl1"].check_output(
        f"journalctl -u bizra-lab-engine-driver --since '{since}' --no-pager -o cat").splitlines()


def test_blocks_advance_on_both_nodes_through_the_engine_api(hosts):
    start = {name: head(hosts[name]) for name in NODES}
    wait_for(lambda: all(head(hosts[name]) >= start[name] + 3 for name in NODES), 60, "3 new blocks on both nodes")
    common = min(head(hosts[name]) for name in NODES)
    hashes = {name: console(hosts[name], f"eth.getBlock({common}).hash") for name in NODES}
    assert hashes["geth1"] == hashes["geth2"], f"the nodes disagree on block {common}: {hashes}"
    print(f"\nblock {common} on both nodes: {hashes['geth1']}")


def test_the_nodes_peer_with_each_other(hosts):
    ids = {name: console(hosts[name], "admin.nodeInfo.id") for name in NODES}
    for name, other in (("geth1", "geth2"), ("geth2", "geth1")):
        peers = console(hosts[name], 'admin.peers.map(function(p){return p.id}).join(",")').split(",")
        assert ids[other] in peers, f"{name} is not peered with {other}: {peers}"


def test_the_engine_api_refuses_a_wrong_or_missing_jwt():
    secret = bytes.fromhex((SECRETS / "mol-geth-geth1-jwt").read_text().split()[0])
    assert engine_call(ADDRESSES["geth1"], jwt_token(secret)) == 200
    assert engine_call(ADDRESSES["geth1"], jwt_token(bytes(32))) == 401
    assert engine_call(ADDRESSES["geth1"], jwt_token(secret, now=time.time() - 3600)) == 401  # stale iat
    assert engine_call(ADDRESSES["geth1"], None) == 401


def test_the_secrets_have_tight_modes_and_the_inventory_secret_is_used(hosts):
    for name in NODES:
        jwt = hosts[name].file("/etc/geth/jwt.hex")
        assert (jwt.user, jwt.group, jwt.mode) == ("root", "geth", 0o640)
        nodekey = hosts[name].file("/var/lib/geth/geth/nodekey")
        assert (nodekey.user, nodekey.mode) == ("geth", 0o600)
    inventory_secret = (SECRETS / "mol-geth-geth1-jwt").read_text().split()[0].lower()
    assert hosts["geth1"].file("/etc/geth/jwt.hex").content_string.strip() == inventory_secret
    made_on_host = hosts["geth2"].file("/etc/geth/jwt.hex").content_string.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", made_on_host) and made_on_host != inventory_secret


def test_rpc_is_local_and_metrics_carry_the_names_the_alerts_use(hosts):
    listening = hosts["geth1"].check_output("ss -Hltn")
    assert re.search(r"127\.0\.0\.1:8545\s", listening) and re.search(r"127\.0\.0\.1:8546\s", listening)
    assert not re.search(r"(0\.0\.0\.0|\*|10\.89\.80\.11):854[56]\s", listening), listening
    with urllib.request.urlopen(f"http://{ADDRESSES['geth1']}:6060/debug/metrics/prometheus", timeout=5) as answer:
        metrics = answer.read().decode()
    for name in ("chain_head_block", "chain_head_header", "p2p_peers"):
        assert re.search(rf"^{name} ", metrics, re.MULTILINE), f"{name} missing from geth's metrics"


def test_the_unit_is_sandboxed_and_stops_geth_gently(hosts):
    summary = hosts["geth1"].check_output("systemd-analyze security geth --no-pager | tail -1")
    exposure = float(re.search(r"exposure level for geth\.service: ([0-9.]+)", summary).group(1))
    print(f"\nsystemd-analyze security geth: {exposure}")
    assert exposure <= 3.0, summary
    shown = dict(line.split("=", 1) for line in hosts["geth1"].check_output(
        "systemctl show geth -p KillSignal -p TimeoutStopUSec -p LimitNOFILE -p User").splitlines())
    assert shown["KillSignal"] == "2" and shown["User"] == "geth"
    assert shown["TimeoutStopUSec"] in ("15min", "900s") or shown["TimeoutStopUSec"].startswith("15min")
    assert int(shown["LimitNOFILE"]) >= 10 + 2000


def test_check_mode_changes_nothing_and_shows_no_secret():
    code, output, recap = run_playbook("converge.yml", "--check", "--diff")
    assert code == 0, output[-3000:]
    assert_nothing_changed(recap, output, ADDRESSES)
    assert (SECRETS / "mol-geth-geth1-jwt").read_text().split()[0] not in output


def test_bad_input_is_refused_before_anything_changes(hosts):
    pids = {name: main_pid(hosts[name]) for name in NODES}
    code, output, recap = run_playbook(
        GETH_PLAYBOOK, "-e", "geth_cache_mb=99999999", "-e", "geth_network_id=5", "-e", "geth_jwt_secret=not-hex",
        "-e", '{"geth_rpc_apis": ["eth", "admin"]}', "-e", "geth_release_sha256=abc")
    assert code != 0
    for expected in ("geth: invalid input on geth1", "geth: invalid input on geth2",
                     "geth_cache_mb 99999999 is more than this host can give geth",
                     "geth_network_id 5 differs from geth_genesis.config.chainId 31337",
                     "geth_jwt_secret must be 64 hex digits", "admin, debug, personal and miner are never served",
                     "geth_release_sha256 'abc'"):
        assert expected in output, f"{expected!r} not in:\n{output[-3000:]}"
    assert "not-hex" not in output
    assert {host: counts["changed"] for host, counts in recap.items()} == {"geth1": 0, "geth2": 0}
    code, output, _ = run_playbook(GETH_PLAYBOOK, "-e", "geth_network=ropsten")
    assert code != 0 and "geth_network" in output and "mainnet, sepolia, hoodi, private" in output, output[-2000:]
    assert {name: main_pid(hosts[name]) for name in NODES} == pids


def test_a_config_geth_rejects_never_replaces_the_running_one(hosts):
    before = {name: (main_pid(hosts[name]), hosts[name].file("/etc/geth/config.toml").sha256sum) for name in NODES}
    # Passes the role's checks (an int), but geth's TOML reader refuses a negative slot count.
    code, output, recap = run_playbook(GETH_PLAYBOOK, "-e", "geth_txpool_global_slots=-5")
    assert code != 0
    assert "failed to validate" in output and "GlobalSlots" in output, output[-3000:]
    assert recap["geth1"]["changed"] == 0 and recap.get("geth2", {}).get("changed", 0) == 0, recap
    after = {name: (main_pid(hosts[name]), hosts[name].file("/etc/geth/config.toml").sha256sum) for name in NODES}
    assert after == before


def test_a_release_that_does_not_match_its_checksum_installs_nothing(hosts):
    before = {name: (main_pid(hosts[name]), running_version(hosts[name])) for name in NODES}
    code, output, _ = run_playbook(GETH_PLAYBOOK, "-e", f"geth_version={SECOND_VERSION}",
                                   "-e", "geth_release_sha256=" + "0" * 64)
    assert code != 0
    assert f"geth {SECOND_VERSION} on geth1 was not installed, nothing changed" in output, output[-3000:]
    assert "checksum" in output
    for name in NODES:
        assert not hosts[name].file(f"/opt/geth/geth-{SECOND_VERSION}").exists
        assert hosts[name].file("/opt/geth/current").linked_to == f"/opt/geth/geth-{FIRST_VERSION}"
    assert {name: (main_pid(hosts[name]), running_version(hosts[name])) for name in NODES} == before


def test_an_upgrade_restarts_one_node_at_a_time_behind_the_gate(hosts):
    since = hosts["cl1"].check_output("date '+%Y-%m-%d %H:%M:%S'")
    # A file in the datadir that is not geth's: the role must not chown the datadir recursively.
    hosts["geth1"].check_output("touch /var/lib/geth/not-geths && chown root:root /var/lib/geth/not-geths")
    started = time.monotonic()
    code, output, _ = run_playbook(GETH_PLAYBOOK, "-e", f"geth_version={SECOND_VERSION}")
    took = time.monotonic() - started
    assert code == 0, output[-4000:]
    for name in NODES:
        assert running_version(hosts[name]) == f"/opt/geth/geth-{SECOND_VERSION}/geth"
        assert hosts[name].file(f"/opt/geth/geth-{FIRST_VERSION}/geth").exists, "the previous release was not kept"
    assert hosts["geth1"].file("/var/lib/geth/not-geths").user == "root"
    # One node at a time: geth1 passed its gate before geth2 was restarted.
    steps = re.findall(r"(?:TASK|RUNNING HANDLER) \[bizra\.infra\.geth : "
                       r"(Restart geth|Wait \(common_ready_timeout\) until geth answers)"
                       r"[^\]]*\] \**\s*(?:changed|ok): \[(geth\d)\]", output)
    assert steps == [("Restart geth", "geth1"), ("Wait (common_ready_timeout) until geth answers", "geth1"),
                     ("Restart geth", "geth2"), ("Wait (common_ready_timeout) until geth answers", "geth2")], steps
    # The chain never stopped: every driver round had a node to build on, and never were both down.
    lines = driver_log_since(hosts, since)
    blocks = [line for line in lines if line.startswith("block ")]
    both_down = [line for line in blocks if line.count("unreachable") >= 2]
    print(f"\nrolling upgrade: {took:.0f} s, {len(blocks)} blocks produced meanwhile, "
          f"{sum('unreachable' in line for line in blocks)} rounds with one node down")
    assert not both_down, both_down
    assert len(blocks) >= took / 2 * 0.5, f"only {len(blocks)} blocks in {took:.0f} s"


def test_a_rollback_to_a_release_a_node_lacks_is_refused(hosts):
    before = {name: main_pid(hosts[name]) for name in NODES}
    code, output, _ = run_playbook(ROLLBACK_PLAYBOOK, "-e", "geth_rollback_version=1.2.3")
    assert code != 0 and "/opt/geth/geth-1.2.3 is not there" in output, output[-2000:]
    assert {name: main_pid(hosts[name]) for name in NODES} == before


def test_a_rollback_goes_back_one_node_at_a_time(hosts):
    code, output, _ = run_playbook(ROLLBACK_PLAYBOOK, "-e", f"geth_rollback_version={FIRST_VERSION}")
    assert code == 0, output[-4000:]
    for name in NODES:
        assert running_version(hosts[name]) == f"/opt/geth/geth-{FIRST_VERSION}/geth"
    start = {name: head(hosts[name]) for name in NODES}
    wait_for(lambda: all(head(hosts[name]) > start[name] for name in NODES), 30, "blocks after the rollback")


def test_a_failed_health_gate_stops_the_run_at_that_node(hosts):
    hosts["cl1"].check_output("systemctl stop bizra-lab-engine-driver")  # no consensus client: no new head
    try:
        geth2_pid = main_pid(hosts["geth2"])
        code, output, _ = run_playbook(GETH_PLAYBOOK, "-e", "geth_max_peers=12", "-e", "common_ready_timeout=12")
        assert code != 0
        assert "geth on geth1 failed its health gate after the restart" in output, output[-3000:]
        assert re.search(r"head (\d+) \(before: \1, must advance\)", output), output[-3000:]
        assert "The nodes after it were not touched" in output
        assert main_pid(hosts["geth2"]) == geth2_pid, "geth2 was restarted after geth1 failed its gate"
    finally:
        hosts["cl1"].check_output("systemctl start bizra-lab-engine-driver")
    code, output, _ = run_playbook(GETH_PLAYBOOK)
    assert code == 0, output[-3000:]
