"""frr_bgp: real BGP sessions between three FRR routers, policy checked from the routing tables."""

import json
import secrets
import subprocess
from pathlib import Path

import pytest
import testinfra
from scenario_helpers import assert_nothing_changed, inventory_dir, lab_key, run_playbook, wait_for

EDGE, TRANSIT_A, TRANSIT_B = "10.89.30.10", "10.89.30.1", "10.89.30.2"
EDGE6, TRANSIT_A6, TRANSIT_B6 = "fd89:30::10", "fd89:30::1", "fd89:30::2"
INCIDENT = Path(__file__).resolve().parents[3] / "playbooks" / "incident"


def router(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory_dir()}")


def vtysh_json(host, command: str) -> dict:
    return json.loads(host.check_output(f"vtysh -c '{command} json'"))


def peers(host) -> dict:
    return vtysh_json(host, "show bgp ipv4 unicast summary")["peers"]


def wait_established(host, addresses, timeout: float = 60) -> dict:
    def established():
        current = peers(host)
        return current if all(current.get(a, {}).get("state") == "Established" for a in addresses) else None

    return wait_for(established, timeout, f"BGP sessions with {addresses} to be Established")


def routes(host) -> dict:
    return vtysh_json(host, "show bgp ipv4 unicast")["routes"]


def eventually(check, timeout: float = 45):
    """BGP converges asynchronously (route-map delay timer, update groups): retry an assertion."""
    return wait_for(lambda: check() or True, timeout, "BGP to converge", retry_on=(AssertionError, KeyError))


@pytest.fixture(scope="module")
def edge():
    host = router("edge")
    wait_established(host, [TRANSIT_A, TRANSIT_B])
    return host


def test_sessions_established_on_all_routers(edge):
    assert wait_established(router("upstream1"), [EDGE])
    assert wait_established(router("upstream2"), [EDGE])


def test_bfd_sessions_are_up_where_declared(edge):
    def check():
        bfd = {p["peer"]: p["status"] for p in json.loads(edge.check_output("vtysh -c 'show bfd peers json'"))}
        assert bfd == {TRANSIT_A: "up"}  # transit-a declares bfd, transit-b does not

    eventually(check)


def test_ports_are_exported_to_the_firewall(edge):
    exported = json.loads(edge.file("/etc/bizra/firewall.d/frr_bgp.json").content_string)
    assert exported["role"] == "frr_bgp"
    rules = {r["name"]: r for r in exported["rules"]}
    assert rules["bgp"] == {"name": "bgp", "proto": "tcp", "ports": [179],
                            "sources": [TRANSIT_A, TRANSIT_B, TRANSIT_A6, TRANSIT_B6]}
    assert rules["bfd"] == {"name": "bfd", "proto": "udp", "ports": [3784, 4784], "sources": [TRANSIT_A]}


def test_ipv6_sessions_routes_and_policy(edge):
    def check():
        sessions = vtysh_json(edge, "show bgp ipv6 unicast summary")["peers"]
        assert {a: sessions[a]["state"] for a in (TRANSIT_A6, TRANSIT_B6)} == {
            TRANSIT_A6: "Established", TRANSIT_B6: "Established"}
        table = vtysh_json(edge, "show bgp ipv6 unicast")["routes"]
        assert table["2001:db8:1::/48"][0]["locPrf"] == 200
        assert table["2001:db8:2::/48"][0]["locPrf"] == 100
        for upstream in ("upstream1", "upstream2"):
            path = vtysh_json(router(upstream), "show bgp ipv6 unicast 2001:db8:6500::/48")["paths"][0]
            assert path["aspath"]["string"] == "65000"
            assert {"65000:100", "no-export"} <= set(path["community"]["string"].split())

    eventually(check)


def test_imported_routes_carry_the_configured_local_preference(edge):
    def check():
        table = routes(edge)
        assert table["100.64.1.0/25"][0]["locPrf"] == 200  # from AS 64512, transit-a
        assert table["100.64.2.0/24"][0]["locPrf"] == 100  # from AS 64513, transit-b

    eventually(check)


def test_routes_with_a_rejected_as_path_are_not_accepted(edge):
    sent = vtysh_json(router("upstream1"), f"show bgp ipv4 unicast neighbors {EDGE} advertised-routes")
    assert "100.64.1.128/25" in sent["advertisedRoutes"]  # upstream1 did send it, as 64512 64999

    def check():
        table = routes(edge)
        assert "100.64.1.0/25" in table  # the session carries routes
        assert "100.64.1.128/25" not in table

    eventually(check)


@pytest.mark.parametrize("upstream", ["upstream1", "upstream2"])
def test_own_prefix_arrives_with_no_export_and_65000_100(edge, upstream):
    def check():
        path = vtysh_json(router(upstream), "show bgp ipv4 unicast 198.51.100.0/24")["paths"][0]
        assert path["aspath"]["string"] == "65000"
        communities = path["community"]["string"].split()
        assert "65000:100" in communities and "no-export" in communities

    eventually(check)


@pytest.mark.parametrize("upstream", ["upstream1", "upstream2"])
def test_only_the_own_prefix_is_exported(edge, upstream):
    def check():
        received = routes(router(upstream))
        learned_from_edge = [p for p, paths in received.items() if paths[0].get("path", "").startswith("65000")]
        assert learned_from_edge == ["198.51.100.0/24"], learned_from_edge

    eventually(check)


def test_policy_change_is_applied_without_resetting_sessions(edge):
    before = peers(edge)
    changed_maps = [
        {"name": "IMPORT-TRANSIT-A", "entries": [{"seq": 10, "action": "permit", "match": {"as_path": "FROM-AS64512"},
                                                   "set": {"local_preference": 250}}]},
        {"name": "IMPORT-TRANSIT-B", "entries": [{"seq": 10, "action": "permit", "match": {"as_path": "FROM-AS64513"},
                                                   "set": {"local_preference": 100}}]},
        {"name": "EXPORT-OWN", "entries": [{"seq": 10, "action": "permit", "match": {"prefix_list": "OWN-V4"},
                                             "set": {"communities": ["no-export", "65000:100"]}}]},
        {"name": "EXPORT-OWN-V6", "entries": [{"seq": 10, "action": "permit", "match": {"prefix_list_v6": "OWN-V6"},
                                                "set": {"communities": ["no-export", "65000:100"]}}]},
    ]
    new_policy = json.dumps({"frr_bgp_route_maps": changed_maps})
    rc, output, recap = run_playbook("converge.yml", "--limit", "edge", "-e", new_policy)
    assert rc == 0 and recap["edge"]["changed"] >= 1, output[-3000:]
    wait_for(lambda: routes(edge)["100.64.1.0/25"][0]["locPrf"] == 250, 30, "the new local preference")
    # back to the inventory's policy
    rc, output, _ = run_playbook("converge.yml", "--limit", "edge")
    assert rc == 0, output[-3000:]
    after = wait_established(edge, [TRANSIT_A, TRANSIT_B])
    for address in (TRANSIT_A, TRANSIT_B):
        # same session: uptime kept growing, no new establishment
        assert after[address]["peerUptimeMsec"] > before[address]["peerUptimeMsec"]
        assert after[address]["connectionsEstablished"] == before[address]["connectionsEstablished"]


def test_check_mode_on_converged_routers_changes_nothing():
    rc, output, recap = run_playbook("converge.yml", "--check", "--diff")
    assert rc == 0, output[-3000:]
    assert_nothing_changed(recap, output, ["edge", "upstream1", "upstream2"])


def test_broken_neighbor_fails_validation_and_running_config_is_untouched(edge):
    running = edge.check_output("vtysh -c 'show running-config'")
    on_disk = edge.file("/etc/frr/frr.conf").content_string
    broken = {
        "frr_bgp_neighbors": [{"address": "10.89.30.300", "remote_as": 4294967296, "ipv4": {"import": "NO-SUCH-MAP"}}],
        "frr_bgp_asn": 0,
        "frr_bgp_router_id": "10.89.30.1",  # upstream1's
        "frr_bgp_prefix_lists": [{"name": "OWN-V4", "entries": [{"seq": 10, "action": "permit",
                                                                  "prefix": "198.51.100.7/24"}]}],
    }
    rc, output, _ = run_playbook("converge.yml", "-e", json.dumps(broken), "--limit", "edge,upstream1")
    assert rc != 0
    for message in (
        "frr_bgp: invalid input on edge",
        "frr_bgp_asn 0 is not in 1..4294967295",
        "frr_bgp_router_id 10.89.30.1 is also used by ['upstream1']",
        "frr_bgp_neighbors addresses ['10.89.30.300'] are not IP addresses",
        "frr_bgp_neighbors ['10.89.30.300'] have a remote_as outside 1..4294967295",
        "frr_bgp_neighbors use route maps ['NO-SUCH-MAP']",
        "frr_bgp_prefix_lists prefixes ['198.51.100.7/24'] are not networks",
    ):
        assert message in output.replace("\n", " ").replace("  ", " "), message
    assert edge.check_output("vtysh -c 'show running-config'") == running
    assert edge.file("/etc/frr/frr.conf").content_string == on_disk


def test_route_map_values_frr_cannot_apply_are_refused(edge):
    bad_maps = [{"name": "IMPORT-TRANSIT-A", "entries": [{"seq": 10, "action": "permit",
                                                         "set": {"local_preference": "very-high"}}]}]
    rc, output, _ = run_playbook("converge.yml", "--limit", "edge", "-e", json.dumps({"frr_bgp_route_maps": bad_maps}))
    assert rc != 0
    assert "frr_bgp_route_maps set values ['very-high'] are not numbers" in output


def test_config_frr_rejects_is_never_installed(edge):
    """vtysh checks the rendered file before it replaces frr.conf: a grammar error never lands."""
    on_disk = edge.file("/etc/frr/frr.conf").content_string
    bad_lists = [{"name": "OWN-V4", "entries": [{"seq": 10, "action": "permit", "prefix": "198.51.100.0/24",
                                                 "le": 40}]},
                 {"name": "OWN-V6", "family": "ipv6",
                  "entries": [{"seq": 10, "action": "permit", "prefix": "2001:db8:6500::/48"}]}]
    bad = json.dumps({"frr_bgp_prefix_lists": bad_lists})
    rc, output, _ = run_playbook("converge.yml", "--limit", "edge", "-e", bad)
    assert rc != 0
    assert "failed to validate" in output
    assert edge.file("/etc/frr/frr.conf").content_string == on_disk
    assert wait_established(edge, [TRANSIT_A, TRANSIT_B])


def path_at(upstream: str) -> dict:
    return vtysh_json(router(upstream), "show bgp ipv4 unicast 198.51.100.0/24")["paths"][0]


def test_status_is_read_only_and_lists_the_sessions(edge):
    rc, output, recap = run_playbook(str(INCIDENT / "bgp_status.yml"))
    assert rc == 0 and recap["edge"]["changed"] == 0, output[-3000:]
    assert f"ipv4Unicast {TRANSIT_A} AS64512 Established" in output
    assert f"ipv4Unicast {TRANSIT_B} AS64513 Established" in output


def test_drain_needs_a_named_edge_router():
    rc, output, _ = run_playbook(str(INCIDENT / "bgp_drain.yml"))
    assert rc != 0
    assert "bgp_drain needs -e bgp_target=<one edge router>; edge routers: edge" in output


def test_drain_and_undrain_move_traffic_without_dropping_sessions(edge):
    before = peers(edge)
    rc, output, recap = run_playbook(str(INCIDENT / "bgp_drain.yml"), "-e", "bgp_target=edge")
    assert rc == 0 and recap["edge"]["changed"] >= 1, output[-3000:]
    assert "Report sessions before" in output and "Report sessions after" in output

    def drained():
        for upstream in ("upstream1", "upstream2"):
            path = path_at(upstream)
            assert path["aspath"]["string"] == "65000 65000 65000 65000"
            assert "graceful-shutdown" in path["community"]["string"].split()

    eventually(drained)
    # idempotent, and a routine run keeps the router drained
    rc, output, recap = run_playbook(str(INCIDENT / "bgp_drain.yml"), "-e", "bgp_target=edge")
    assert rc == 0 and recap["edge"]["changed"] == 0, output[-3000:]
    rc, output, recap = run_playbook("converge.yml")
    assert rc == 0 and recap["edge"]["changed"] == 0, output[-3000:]
    eventually(drained)

    rc, output, recap = run_playbook(str(INCIDENT / "bgp_undrain.yml"), "-e", "bgp_target=edge")
    assert rc == 0 and recap["edge"]["changed"] >= 1, output[-3000:]

    def normal():
        for upstream in ("upstream1", "upstream2"):
            path = path_at(upstream)
            assert path["aspath"]["string"] == "65000"
            assert "graceful-shutdown" not in path["community"]["string"].split()

    eventually(normal)
    rc, output, recap = run_playbook(str(INCIDENT / "bgp_undrain.yml"), "-e", "bgp_target=edge")
    assert rc == 0 and recap["edge"]["changed"] == 0, output[-3000:]
    after = wait_established(edge, [TRANSIT_A, TRANSIT_B])
    for address in (TRANSIT_A, TRANSIT_B):
        assert after[address]["peerUptimeMsec"] > before[address]["peerUptimeMsec"]
        assert after[address]["connectionsEstablished"] == before[address]["connectionsEstablished"]


def test_a_reload_frr_rejects_rolls_back_to_the_last_good_config(edge):
    """`ge 4` on a /24 is valid grammar (vtysh -C passes) but bgpd refuses it when applied."""
    running = edge.check_output("vtysh -c 'show running-config'")
    on_disk = edge.file("/etc/frr/frr.conf").content_string
    lists = [{"name": "OWN-V4", "entries": [{"seq": 10, "action": "permit", "prefix": "198.51.100.0/24", "ge": 4}]},
             {"name": "OWN-V6", "family": "ipv6",
              "entries": [{"seq": 10, "action": "permit", "prefix": "2001:db8:6500::/48"}]}]
    rc, output, _ = run_playbook("converge.yml", "--limit", "edge", "-e", json.dumps({"frr_bgp_prefix_lists": lists}))
    assert rc != 0, output[-3000:]
    assert "restored the last configuration that applied" in output
    assert edge.file("/etc/frr/frr.conf").content_string == on_disk
    rejected = edge.file("/etc/frr/frr.conf.rejected")
    assert "ge 4" in rejected.content_string
    assert rejected.mode == 0o640 and rejected.user == "frr"  # it may carry neighbor passwords
    assert edge.check_output("vtysh -c 'show running-config'") == running
    assert wait_established(edge, [TRANSIT_A, TRANSIT_B])
    # the inventory's config is still what is applied: a normal run has nothing to do
    rc, output, recap = run_playbook("converge.yml", "--limit", "edge")
    assert rc == 0 and recap["edge"]["changed"] == 0, output[-3000:]


ROUTERS = {"edge": EDGE, "upstream1": TRANSIT_A, "upstream2": TRANSIT_B}
CONFIG_FILES = {"/etc/frr/frr.conf", "/etc/frr/frr.conf.last-good", "/etc/frr/frr.conf.rejected"}


def where_secrets_are(address: str, values: list[str]) -> tuple[set[str], int]:
    """Files (outside /proc, /sys, /dev, /run) and journal lines on a router that hold a secret.

    Over plain SSH with the secrets on stdin, never on a command line: an Ansible command (the
    testinfra backend) would log its arguments to the router's journal and plant them there."""
    ssh = ["ssh", "-i", str(lab_key()), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", f"root@{address}"]
    patterns = "\n".join(values) + "\n"
    files = subprocess.run([*ssh, "grep -rlsIF -f - --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "
                                  "--exclude-dir=run / || true"], input=patterns, capture_output=True, text=True,
                           check=True, timeout=300).stdout.split()
    in_journal = 'patterns=$(cat); journalctl --no-pager -o cat | grep -cF -e "$patterns" || true'
    journal = subprocess.run([*ssh, in_journal], input=patterns, capture_output=True, text=True, check=True,
                             timeout=300).stdout.strip()
    return set(files), int(journal)


def test_a_rotated_session_password_is_kept_in_no_log_and_no_history(edge):
    """The sessions' password rotated: neither value in any router file but FRR's own configuration
    (the new one in frr.conf and its last good copy; the rejected copy of the rollback test above
    still holds the old), nor in a journal. frr-reload.py logs every line it applies and vtysh
    keeps a history of commands: both were where the password outlived a rotation."""
    old = (lab_key().parent.parent / "secrets" / "mol-bgp-session").read_text().split()[0]
    new = secrets.token_hex(12)
    rc, output, _ = run_playbook("converge.yml", "-e", f"frr_lab_session_password={new}")
    assert rc == 0, output[-3000:]
    assert new not in output and old not in output
    wait_established(edge, [TRANSIT_A, TRANSIT_B])
    assert f"password {new}" in edge.file("/etc/frr/frr.conf").content_string
    for name, address in ROUTERS.items():
        files, journal_lines = where_secrets_are(address, [old, new])
        assert files <= CONFIG_FILES and journal_lines == 0, (name, files, journal_lines)
        assert where_secrets_are(address, [old])[0] <= {"/etc/frr/frr.conf.rejected"}, name
