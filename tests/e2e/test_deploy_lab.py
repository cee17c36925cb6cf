"""bizractl deploy / plan / lab on the lab fleet: convergence, idempotence, plans, failures, secrets."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import yaml
from lab_helpers import BIZRACTL, ROOT, lab_ssh

from bizractl.exitcodes import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TASK_FAILED,
    EXIT_UNREACHABLE,
)

LAB_HOSTS = {"edge1", "upstream1", "upstream2", "svc1", "pg1", "pg2", "mon1"}
EE_HOSTS = {"edge1", "svc1", "pg1", "mon1"}  # one of each kind: upstream1/2 are routers, pg2 a database
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-bizra-hardening.conf"


def test_lab_status_and_ssh(bizractl, lab):
    status = bizractl("lab", "status")
    assert status.code == 0
    for host in LAB_HOSTS:
        assert host in status.output
    assert "absent" not in status.output and "stopped" not in status.output
    assert lab_ssh(bizractl, "pg2", "hostname").strip() == "pg2"


def test_site_converges_the_whole_lab_and_second_run_changes_nothing(converged, second_run):
    assert set(converged.summary["hosts"]) == LAB_HOSTS
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in converged.summary["hosts"].values())
    again = second_run
    assert again.code == EXIT_OK, again.output
    changed = {host: h["changed"] for host, h in again.summary["hosts"].items() if h["changed"]}
    assert set(again.summary["hosts"]) == LAB_HOSTS
    assert changed == {}, f"second run changed something: {changed}"
    # the final table names every host
    for host in LAB_HOSTS:
        assert host in again.output


def test_a_run_in_the_execution_environment_matches_the_direct_run(bizractl, second_run):
    """The collection's image (built by the run when missing): same tasks, same outcome, no change.

    On one host of each kind (edge router, service host, database, monitoring): every role and
    every module the collection uses runs in the image, at 4/7 of the fleet's cost."""
    assert second_run.code == EXIT_OK, second_run.output
    in_ee = bizractl("deploy", "site.yml", "--ee", "--limit", ",".join(sorted(EE_HOSTS)))
    assert in_ee.code == EXIT_OK, in_ee.output
    image = in_ee.summary["execution_environment"]
    assert image and image.startswith("localhost/bizra-ee:"), in_ee.summary
    # what ran inside: the collection's playbook by name, in podman, on the host's network
    command = json.loads((in_ee.run_dir / "artifacts" / "ansible" / "command").read_text())["command"]
    assert command[:2] == ["podman", "run"] and image in command and "bizra.infra.site" in command
    assert "--network=host" in command
    # every host ran the same tasks with the same outcome as the direct run, and nothing changed
    outcome = ("ok", "changed", "failed", "unreachable", "skipped")
    direct = {host: {k: h[k] for k in outcome} for host, h in second_run.summary["hosts"].items() if host in EE_HOSTS}
    through_ee = {host: {k: h[k] for k in outcome} for host, h in in_ee.summary["hosts"].items()}
    assert set(through_ee) == EE_HOSTS
    assert through_ee == direct
    # the audit trail names the image; the container's environment file did not outlive the run
    record = json.loads((bizractl.runs_dir / "audit.log").read_text().splitlines()[-1])
    assert record["run_id"] == in_ee.summary["run_id"] and record["execution_environment"] == image
    assert not (in_ee.run_dir / "artifacts" / "ansible" / "env.list").exists()
    leftover = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                              check=True).stdout.split()
    assert not [name for name in leftover if name.startswith("ansible_runner_")]


def _status(bizractl) -> tuple[int, dict]:
    result = bizractl("status", "--json")
    # stdout's JSON first; anything on stderr comes after it
    answer, _ = json.JSONDecoder().raw_decode(result.output[result.output.index("["):])
    return result.code, {h["host"]: h for h in answer}


def test_status_reads_the_whole_fleet_in_one_pass(bizractl, converged):
    runs_before = set(bizractl.runs_dir.iterdir())
    deadline = time.monotonic() + 90  # BGP sessions and first scrapes settle after the converge
    while True:
        code, hosts = _status(bizractl)
        components = {name: host["components"] for name, host in hosts.items()}
        settled = (components["edge1"].get("bgp", {}).get("established") == 2
                   and components["mon1"].get("prometheus", {}).get("down") == [])
        if settled or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert code == EXIT_OK, hosts
    assert set(hosts) == LAB_HOSTS and all(h["reachable"] for h in hosts.values())
    for name, host in hosts.items():
        assert host["last_run"] == {"run_id": host["last_run"]["run_id"], "playbook": "site.yml", "check": False,
                                    "result": "ok"}, name
        assert host["components"]["firewall"]["loaded"] is True, name
        assert host["components"]["services"]["health"] == "ok", (name, host["components"]["services"])
    assert components["edge1"]["bgp"]["peers"] == {"10.89.10.12": "Established", "10.89.10.13": "Established"}
    assert (components["pg1"]["postgresql"]["role"], components["pg1"]["postgresql"]["synchronous"]) == ("primary", 1)
    assert (components["pg2"]["postgresql"]["role"], components["pg2"]["postgresql"]["receiver"]) == (
        "standby", "streaming")
    assert components["mon1"]["prometheus"]["targets"] >= len(LAB_HOSTS)
    assert components["mon1"]["prometheus"]["down"] == []
    assert components["svc1"]["geth"]["head"] >= 0 and "peers" in components["svc1"]["geth"]
    # Read-only: no run directory, no audit record.
    assert set(bizractl.runs_dir.iterdir()) == runs_before


def test_diag_bundle_is_private_complete_and_has_no_secret(bizractl, converged, tmp_path: Path):
    import tarfile

    from bizractl.paths import lab_home

    canary_file = "/etc/chrony/conf.d/bizra-diag-canary.txt"  # collected, never read by chrony
    canary = "C4NARY-diag-5e1f"
    lab_ssh(bizractl, "pg1", f"printf 'token = {canary}\\npassword {canary}-frr\\n' > {canary_file}")
    try:
        bundle = tmp_path / "diag.tar.gz"
        result = bizractl("diag", "pg1", "pg2", "edge1", "-o", str(bundle))
        assert result.code == EXIT_OK, result.output
    finally:
        lab_ssh(bizractl, "pg1", f"rm -f {canary_file}")
    assert bundle.stat().st_mode & 0o777 == 0o600
    with tarfile.open(bundle) as archive:
        texts = {m.name: archive.extractfile(m).read().decode(errors="replace")
                 for m in archive.getmembers() if m.isfile()}
    assert json.loads(texts["manifest.json"])["hosts"] == ["edge1", "pg1", "pg2"]
    for host in ("pg1", "pg2", "edge1"):
        assert {f"{host}/services.txt", f"{host}/versions.txt", f"{host}/state.txt"} <= set(texts)
    assert "pg2/configs/etc/postgresql/15/main/conf.d/90-bizra.conf" in texts
    assert "edge1/configs/etc/frr/frr.conf" in texts
    assert any(name.startswith("pg1/journal/postgresql@15-main") for name in texts)
    assert "PostgreSQL 15" in texts["pg1/versions.txt"] or "psql (PostgreSQL) 15" in texts["pg1/versions.txt"]
    # The planted canary was redacted on the host; no lab secret is anywhere in the bundle.
    planted = texts[f"pg1/configs{canary_file}"]
    assert canary not in planted and "token = <redacted>" in planted and "password <redacted>" in planted
    everything = "\n".join(texts.values())
    secrets = [p.read_text().split()[0] for p in (lab_home() / "secrets").glob("lab-*")]
    assert secrets and not [s for s in secrets if s in everything]


def test_plan_on_converged_fleet_changes_nothing(bizractl, converged):
    plan = bizractl("plan", "site")
    assert plan.code == EXIT_OK, plan.output
    assert plan.summary["check"] is True
    assert plan.summary["changes"] == []
    assert "No changes" in plan.output


def test_plan_shows_drift_with_diff_and_touches_nothing_then_deploy_repairs(bizractl, converged):
    lab_ssh(bizractl, "pg2", f"sed -i 's/^MaxAuthTries 3$/MaxAuthTries 6/' {SSHD_DROPIN}")
    plan = bizractl("plan", "site", "--limit", "pg2", "--show-diff")
    assert plan.code == EXIT_OK, plan.output
    # the drifted file, and the reload its handler would do
    assert {(c["host"], c["role"], c["task"]) for c in plan.summary["changes"]} == {
        ("pg2", "base",
         "Write chrony's, sshd's, journald's and sudo's configuration"), ("pg2", "base", "Reload sshd")}
    diff = (plan.run_dir / "plan.diff").read_text()
    assert "-MaxAuthTries 6" in diff and "+MaxAuthTries 3" in diff
    assert "Changes per role" in plan.output and "+MaxAuthTries 3" in plan.output
    # check mode changed nothing on the host
    assert "MaxAuthTries 6" in lab_ssh(bizractl, "pg2", f"cat {SSHD_DROPIN}")

    repair = bizractl("deploy", "site", "--limit", "pg2", "--tags", "base::sshd")
    assert repair.code == EXIT_OK, repair.output
    assert repair.summary["hosts"]["pg2"]["changed"] == 2  # the file and the sshd reload
    assert "MaxAuthTries 3" in lab_ssh(bizractl, "pg2", f"cat {SSHD_DROPIN}")
    # and the running sshd was reloaded with it: a new connection sees the limit
    assert "maxauthtries 3" in lab_ssh(bizractl, "pg2", "sshd -T")


def test_task_failure_exit_code_and_message(bizractl, converged):
    result = bizractl("deploy", "site", "--limit", "svc1", "-e", "base_timezone=Mars/Olympus_Mons")
    assert result.code == EXIT_TASK_FAILED, result.output
    failures = result.summary["failures"]
    assert [f["host"] for f in failures] == ["svc1"]
    assert "base_timezone 'Mars/Olympus_Mons' is not a time zone known on svc1" in failures[0]["message"]
    assert "Failed tasks" in result.output and "Mars/Olympus_Mons" in result.output
    assert result.summary["hosts"]["svc1"]["changed"] == 0


def test_unreachable_host_exit_code(bizractl, lab, tmp_path: Path):
    lab_vars = yaml.safe_load((ROOT / "inventories/lab/group_vars/all.yml").read_text())
    inventory = tmp_path / "ghost.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "hosts": {"ghost": {"ansible_host": "10.89.10.250"}},
        # What the offline checks require of any host: the controller's network for SSH, and a
        # logging cluster for its shipper (the lab's, plain HTTP).
        "vars": {k: v for k, v in lab_vars.items()
                 if k.startswith(("ansible_", "lab_", "nftables_admin", "log_shipper"))}
        | {"ansible_ssh_common_args": lab_vars["ansible_ssh_common_args"] + " -o ConnectTimeout=3",
           "log_shipper_servers": ["10.89.10.21"]},
    }}))
    result = bizractl("deploy", "site", "-i", str(inventory))
    assert result.code == EXIT_UNREACHABLE, result.output
    assert result.summary["hosts"]["ghost"]["unreachable"] == 1
    assert "UNREACHABLE" in result.output


def test_bad_input_exit_codes(bizractl):
    unknown = bizractl("deploy", "no-such-playbook")
    assert unknown.code == EXIT_BAD_INPUT
    assert "Available in" in unknown.output and "site" in unknown.output
    assert unknown.run_dir is None  # nothing ran, nothing recorded
    missing = bizractl("deploy", "site", "-i", "staging")
    assert missing.code == EXIT_BAD_INPUT
    assert "looked at" in missing.output


def test_secrets_never_reach_run_artifacts(bizractl, converged):
    sentinel_var, sentinel_env = "S3NTINEL-extra-var-7f3a", "S3NTINEL-environment-9c1d"
    result = bizractl(
        "deploy", "site", "--limit", "edge1", "--tags", "base::journald",
        "-e", f'{{"bizra_probe_password": "{sentinel_var}"}}', env={"AWS_SECRET_ACCESS_KEY": sentinel_env},
    )
    assert result.code == EXIT_OK, result.output
    leaks = subprocess.run(["grep", "-rl", "-e", sentinel_var, "-e", sentinel_env, str(result.run_dir)],
                           capture_output=True, text=True, check=False)
    assert leaks.stdout == "", f"secret found in {leaks.stdout}"
    modes = {p.stat().st_mode & 0o077 for p in result.run_dir.rglob("*") if p.is_file()}
    assert modes == {0}, "run artifacts must not be readable by group or others"
    # The audit trail names the -e variable, never its value, and its chain holds.
    log = bizractl.runs_dir / "audit.log"
    assert sentinel_var not in log.read_text() and sentinel_env not in log.read_text()
    last = json.loads(log.read_text().splitlines()[-1])
    assert (last["run_id"], last["extra_vars"], last["limit"], last["tags"]) == (
        result.run_dir.name, ["bizra_probe_password"], "edge1", "base::journald")
    verified = bizractl("audit", "verify")
    assert verified.code == EXIT_OK and "chain intact" in verified.output, verified.output


def test_interrupt_stops_cleanly_and_next_run_converges(bizractl, converged):
    proc = subprocess.Popen([str(BIZRACTL), "--project", str(ROOT), "deploy", "site", "--limit", "mon1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "BIZRA_RUNS_DIR": str(bizractl.runs_dir)})
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, output
    assert "interrupted" in output
    after = bizractl("deploy", "site", "--limit", "mon1")
    assert after.code == EXIT_OK and after.summary["hosts"]["mon1"]["changed"] == 0, after.output


def test_runs_are_pruned_to_the_configured_count(bizractl, lab, tmp_path: Path):
    for _ in range(3):
        result = bizractl("plan", "site", "--limit", "edge1", "--tags", "no-such-tag", "--keep-runs", "2",
                          env={"BIZRA_RUNS_DIR": str(tmp_path)})
        assert result.code == EXIT_OK, result.output
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_bgp_status_reports_the_lab_edge_sessions(bizractl, converged):
    """site.yml brought up BGP between edge1 and the lab's two upstream routers."""
    deadline = time.monotonic() + 60
    while True:
        status = bizractl("deploy", "incident/bgp_status")
        assert status.code == EXIT_OK, status.output
        up = [line for line in status.output.splitlines() if " Established " in line]
        if len(up) == 2 or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert "ipv4Unicast 10.89.10.12 AS64512 Established" in status.output
    assert "ipv4Unicast 10.89.10.13 AS64513 Established" in status.output
    assert all(h["changed"] == 0 for h in status.summary["hosts"].values())


def tcp_connects(bizractl, source: str, address: str, port: int) -> bool:
    probe = f"if timeout 3 bash -c '</dev/tcp/{address}/{port}' 2>/dev/null; then echo OPEN; else echo SHUT; fi"
    return "OPEN" in lab_ssh(bizractl, source, probe)


def output_counter(bizractl, host: str, comment: str) -> int:
    """Packets counted by the rule of the host's output chain with this comment."""
    chain = json.loads(lab_ssh(bizractl, host, "nft --json list chain inet bizra_firewall output"))["nftables"]
    rule = next(item["rule"] for item in chain if item.get("rule", {}).get("comment") == comment)
    return sum(expr["counter"]["packets"] for expr in rule["expr"] if "counter" in expr)


def test_the_fleet_firewall_lets_in_only_what_the_services_exported(bizractl, converged):
    """site.yml runs the firewall last: edge1 opens BGP to its neighbors only, SSH to the admins only."""
    assert tcp_connects(bizractl, "upstream1", "10.89.10.11", 179), "a BGP neighbor reaches bgpd"
    assert not tcp_connects(bizractl, "pg1", "10.89.10.11", 179), "a non-neighbor does not"
    assert not tcp_connects(bizractl, "pg1", "10.89.10.11", 22), "SSH only from the admin network"
    # svc1, an HSM client, opens NTLS to its appliance only (hsm_client's outbound rule; mon1 stands
    # for the appliance in the lab): a connection to another host's 1792 is dropped on svc1, counted.
    assert "10.89.10.71" in lab_ssh(bizractl, "svc1", "nft list set inet bizra_firewall hsm_client_ntls_v4")
    pinned = output_counter(bizractl, "svc1", "hsm_client_ntls: not a declared destination")
    assert not tcp_connects(bizractl, "svc1", "10.89.10.31", 1792)
    assert output_counter(bizractl, "svc1", "hsm_client_ntls: not a declared destination") > pinned


def test_site_runs_the_lab_postgresql_15_cluster_with_one_synchronous_standby(bizractl, converged):
    """PostgreSQL 15 on Debian 12 (the distribution's packages), FIRST 1: pg2 synchronous."""
    replication = lab_ssh(bizractl, "pg1", "psql -XAtq -U postgres -c \"SELECT application_name || ':' || state "
                                           "|| ':' || sync_state FROM pg_stat_replication ORDER BY 1\"")
    assert replication.split() == ["pg2:streaming:sync"]
    assert lab_ssh(bizractl, "pg2", "psql --version").startswith("psql (PostgreSQL) 15.")
    marker = f"e2e-{time.time_ns()}"
    lab_ssh(bizractl, "pg1", "psql -XAtq -U postgres -d trading -c \"CREATE TABLE IF NOT EXISTS e2e_probe (note text); "
                             f"INSERT INTO e2e_probe VALUES ('{marker}')\"")
    deadline = time.monotonic() + 30
    while marker not in lab_ssh(bizractl, "pg2", "psql -XAtq -U postgres -d trading -c 'SELECT note FROM e2e_probe'"):
        assert time.monotonic() < deadline, "the row did not reach pg2"
        time.sleep(1)


def prometheus_api(bizractl, path: str, port: int = 9090) -> dict:
    """Prometheus's (or, on 9093, Alertmanager's) HTTP API, read on mon1 itself (the firewall lets
    only monitoring hosts in)."""
    script = f"import urllib.request; print(urllib.request.urlopen('http://10.89.10.71:{port}{path}').read().decode())"
    return json.loads(lab_ssh(bizractl, "mon1", f'python3 -c "{script}"'))


def test_alerts_fire_for_a_silent_hsm_appliance_and_a_stopped_geth(bizractl, converged):
    """svc1's HSM client checks an appliance that never answers (inventories/lab: nothing listens
    on mon1's NTLS port): its NTLS metric is 0, Prometheus fires HSMClientUnreachable (for 1 min).
    geth on svc1 is stopped meanwhile: GethDown fires (for 1 min). Alertmanager holds both, with
    the host (and the appliance) named. One wait for both alerts."""
    lab_ssh(bizractl, "svc1", "systemctl stop geth")
    try:
        assert lab_ssh(bizractl, "svc1", "cat /var/lib/prometheus/node-exporter/bizra_hsm.prom").count(
            'bizra_hsm_ntls_reachable{hsm="luna-lab",address="10.89.10.71:1792"} 0') == 1
        deadline = time.monotonic() + 180
        while True:
            alerts = prometheus_api(bizractl, "/api/v1/alerts")["data"]["alerts"]
            firing = sorted((a["labels"]["alertname"], a["labels"]["instance"], a["labels"].get("hsm", ""))
                            for a in alerts if a["state"] == "firing"
                            and a["labels"]["alertname"] in ("HSMClientUnreachable", "GethDown"))
            if len(firing) == 2 or time.monotonic() > deadline:
                break
            time.sleep(5)
        assert firing == [("GethDown", "svc1", ""), ("HSMClientUnreachable", "svc1", "luna-lab")]
        held = sorted((a["labels"]["alertname"], a["labels"]["instance"], a["labels"].get("hsm", ""))
                      for a in prometheus_api(bizractl, "/api/v2/alerts", 9093)
                      if a["labels"]["alertname"] in ("HSMClientUnreachable", "GethDown"))
        assert held == firing
    finally:
        lab_ssh(bizractl, "svc1", "systemctl start geth")


def test_prometheus_scrapes_every_lab_host_and_every_target_is_up(bizractl, converged):
    """Jobs from the inventory groups: node on every host, postgres on the cluster, the monitoring
    stack itself, geth's own metrics on svc1; then the role packs' metrics: FRR's sessions, the
    cluster's standby counts, geth's head."""
    wanted = ({("node", host) for host in LAB_HOSTS} | {("postgres", "pg1"), ("postgres", "pg2")}
              | {("prometheus", "mon1"), ("alertmanager", "mon1"), ("geth", "svc1"), ("elasticsearch", "svc1")})
    deadline = time.monotonic() + 90
    while True:
        targets = prometheus_api(bizractl, "/api/v1/targets?state=active")["data"]["activeTargets"]
        health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}
        if health == {target: "up" for target in wanted} or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert health == {target: "up" for target in wanted}

    def value(query: str) -> list[tuple[dict, str]]:
        result = prometheus_api(bizractl, "/api/v1/query?query=" + urllib.parse.quote(query))["data"]["result"]
        return [(r["metric"], r["value"][1]) for r in result]

    deadline = time.monotonic() + 60
    while len(value('frr_bgp_peer_state{instance="edge1"} == 1')) < 2 and time.monotonic() < deadline:
        time.sleep(3)
    assert {m["peer"] for m, _ in value('frr_bgp_peer_state{instance="edge1"} == 1')} == {"10.89.10.12", "10.89.10.13"}
    assert [v for _, v in value('pg_bizra_replication_streaming{instance="pg1"}')] == ["1"]
    assert [v for _, v in value('pg_bizra_replication_wanted_synchronous{instance="pg1"}')] == ["1"]
    # The names the geth alert pack reads, from the real geth on svc1 (no consensus client in the
    # lab fleet: its head stays at genesis).
    assert [v for _, v in value('chain_head_block{instance="svc1"}')] == ["0"]
    assert value('p2p_peers{instance="svc1"}'), "geth's p2p_peers is not scraped"
    # The name the Elasticsearch alert pack reads, from the lab's OpenSearch through the exporter.
    assert [(m["color"], v) for m, v in value('elasticsearch_cluster_health_status{instance="svc1"} == 1')] \
        == [("green", "1")]


def test_exporters_answer_the_monitoring_host_only(bizractl, converged):
    assert tcp_connects(bizractl, "mon1", "10.89.10.31", 9100), "Prometheus reaches node_exporter"
    assert tcp_connects(bizractl, "mon1", "10.89.10.31", 9187), "and postgres_exporter"
    assert tcp_connects(bizractl, "mon1", "10.89.10.21", 9114), "and elasticsearch_exporter"
    assert not tcp_connects(bizractl, "pg1", "10.89.10.21", 9114), "which another host does not reach"
    assert not tcp_connects(bizractl, "svc1", "10.89.10.31", 9100), "another host does not"
    assert not tcp_connects(bizractl, "svc1", "10.89.10.71", 9090), "nor the Prometheus UI"


def shipped_entries(bizractl, phrase: str) -> list[dict]:
    """The entries of the journal data stream whose message holds ``phrase``, asked from svc1 itself
    (the API admits the fleet's hosts, not the controller)."""
    search = ("python3 -c 'import json, sys, urllib.request as u; base = \"http://10.89.10.21:9200/system-journal\"; "
              "u.urlopen(u.Request(base + \"/_refresh\", method=\"POST\")); "
              "q = json.dumps({\"size\": 20, \"query\": {\"match_phrase\": {\"message\": sys.argv[1]}}}).encode(); "
              "r = u.urlopen(u.Request(base + \"/_search\", data=q, "
              "headers={\"Content-Type\": \"application/json\"})); "
              "print(json.dumps([h[\"_source\"] for h in json.load(r)[\"hits\"][\"hits\"]]))' "
              f"{shlex.quote(phrase)}")
    return json.loads(lab_ssh(bizractl, "svc1", search).strip().splitlines()[-1])


def wait_for_entries(bizractl, phrase: str, enough) -> list[dict]:
    # Well within a minute: a shipper stuck on a dead connection retries on a new one after 10 s.
    deadline = time.monotonic() + 60
    while True:
        entries = shipped_entries(bizractl, phrase)
        if enough(entries) or time.monotonic() > deadline:
            return entries
        time.sleep(3)


def test_every_lab_host_ships_its_journal_to_the_logging_cluster(bizractl, converged):
    """site.yml's logging layer: OpenSearch on svc1, every host's rsyslog sending its journal there."""
    marker = f"e2e-ship-{time.time_ns()}"
    for host in sorted(LAB_HOSTS):
        lab_ssh(bizractl, host, f"logger -t e2e-ship '{marker} {host}'")
    entries = wait_for_entries(bizractl, marker, lambda found: {e["host.name"] for e in found} == LAB_HOSTS)
    assert sorted(entry["host.name"] for entry in entries) == sorted(LAB_HOSTS)
    assert {entry["event.dataset"] for entry in entries} == {"journald"}


def test_postgresql_ships_its_own_log_file_one_entry_per_message(bizractl, converged):
    """PostgreSQL writes its log file, not the journal: the shipper follows it (imfile), one entry
    per message with its continuation lines (a message's second line, which PostgreSQL writes
    indented, without the line prefix)."""
    marker = f"e2e-pglog-{time.time_ns()}"
    sql = f"DO $$BEGIN RAISE LOG USING MESSAGE = '{marker}' || chr(10) || '{marker}-continued'; END$$"
    # Only the message may carry the marker. PostgreSQL ranks LOG above ERROR for
    # log_min_error_statement, so by default a STATEMENT record (its own line, its own prefix: an
    # entry of its own) with the statement's text follows; a slow statement adds a duration record.
    quiet = ("SET log_min_error_statement = 'panic'; SET log_min_duration_statement = -1; "
             "SET log_statement = 'none'")
    lab_ssh(bizractl, "pg1", f"runuser -u postgres -- psql -qX -c {shlex.quote(quiet)} -c {shlex.quote(sql)}")
    wait_for_entries(bizractl, marker, lambda found: len(found) > 0)
    time.sleep(3)  # a second entry (the message split in two) would be here by now
    entries = shipped_entries(bizractl, marker)
    assert len(entries) == 1, [entry["message"] for entry in entries]
    entry = entries[0]
    assert (entry["host.name"], entry["event.dataset"], entry["process.name"]) == ("pg1", "postgresql", "postgresql")
    # The cluster's own file (Debian's postgresql-<major>-main.log; the lab runs Debian 12's major).
    assert re.fullmatch(r"/var/log/postgresql/postgresql-\d+-main\.log", entry["log.file.path"]), entry
    assert f"LOG:  {marker}" in entry["message"]
    assert re.search(f"{marker}\n\\s*{marker}-continued$", entry["message"]), entry["message"]
