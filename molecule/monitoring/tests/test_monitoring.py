"""Monitoring after converge + idempotence: every target up, a stopped exporter's alert in
Alertmanager, reload without restart, bad input refused before anything changes, InfluxDB's
policies, continuous queries, downsampling and authentication. Runs in file order."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from scenario_helpers import assert_nothing_changed, lab_key, run_playbook, ssh_host, wait_for

MON, INFLUX = "10.89.70.10", "10.89.70.20"
PROMETHEUS, ALERTMANAGER, INFLUXDB = f"http://{MON}:9090", f"http://{MON}:9093", f"http://{INFLUX}:8086"
SECRETS = lab_key().parent.parent / "secrets"
ROOT = Path(__file__).resolve().parents[3]


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def get_json(url: str, auth: tuple[str, str] | None = None) -> dict:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", basic_auth(*auth))
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def secret(name: str) -> str:
    return (SECRETS / name).read_text().split()[0]


@pytest.fixture(scope="module")
def hosts():
    return {"mon1": ssh_host(MON), "influx1": ssh_host(INFLUX)}


def active_targets() -> dict[tuple[str, str], str]:
    targets = get_json(f"{PROMETHEUS}/api/v1/targets?state=active")["data"]["activeTargets"]
    return {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}


def firing(alertname: str, instance: str) -> list[dict]:
    alerts = get_json(f"{ALERTMANAGER}/api/v2/alerts?active=true&silenced=false&inhibited=false")
    return [a for a in alerts if a["labels"].get("alertname") == alertname and a["labels"].get("instance") == instance]


def test_prometheus_scrapes_every_target_the_inventory_gives_and_all_are_up():
    wanted = {("prometheus", "mon1"), ("alertmanager", "mon1"), ("node", "mon1"), ("node", "influx1")}
    # the groups without hosts here (postgresql, geth, logging) give no job at all
    wait_for(lambda: active_targets() == {target: "up" for target in wanted}, 60, f"{wanted} all up")


def test_every_rule_pack_is_loaded_with_the_lab_windows():
    groups = get_json(f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    assert names == {"node_alerts", "exporter_alerts", "postgresql_alerts", "geth_alerts", "bgp_alerts",
                     "raid_alerts", "hsm_alerts", "elasticsearch_alerts"}
    durations = {r["duration"] for g in groups for r in g["rules"]}
    assert durations == {5}  # prometheus_alert_for_override: 5s
    config = get_json(f"{PROMETHEUS}/api/v1/status/config")["data"]["yaml"]
    assert "scrape_interval: 2s" in config and "site: lab" in config
    assert f"{MON}:9093" in config  # alerts go to the inventory's Alertmanager


def test_a_stopped_exporter_fires_its_alert_in_alertmanager_then_resolves(hosts):
    assert not firing("ExporterDown", "influx1")
    hosts["influx1"].check_output("systemctl stop prometheus-node-exporter")
    try:
        alert = wait_for(lambda: firing("ExporterDown", "influx1"), 60, "ExporterDown for influx1 in Alertmanager")
        labels = alert[0]["labels"]
        assert labels["job"] == "node" and labels["severity"] == "critical" and labels["site"] == "lab"
        # routed by severity to the pager receiver of the inventory
        assert [r["name"] for r in alert[0]["receivers"]] == ["pager"]
    finally:
        hosts["influx1"].check_output("systemctl start prometheus-node-exporter")
    wait_for(lambda: not firing("ExporterDown", "influx1"), 60, "the alert to resolve")


def main_pid(host, service: str) -> str:
    return host.check_output(f"systemctl show -p MainPID --value {service}")


def test_a_rule_change_is_a_reload_not_a_restart(hosts):
    before = main_pid(hosts["mon1"], "prometheus")
    extra = json.dumps({"prometheus_rules_extra": [{"name": "lab_extra", "rules": [
        {"alert": "LabAlwaysFiring", "expr": "vector(1)", "labels": {"severity": "info"}}]}]})
    code, output, recap = run_playbook("converge.yml", "--limit", "mon1", "--tags", "prometheus::rules", "-e", extra)
    assert code == 0, output
    assert recap["mon1"]["changed"] >= 1
    assert main_pid(hosts["mon1"], "prometheus") == before, "Prometheus was restarted, not reloaded"
    wait_for(lambda: "lab_extra" in {g["name"] for g in get_json(f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]},
             30, "the new rule group")
    # and back to the inventory: the file goes, the group goes
    code, output, _ = run_playbook("converge.yml", "--limit", "mon1", "--tags", "prometheus::rules")
    assert code == 0, output
    assert "custom.rules" not in hosts["mon1"].check_output("ls /etc/prometheus/rules")
    assert main_pid(hosts["mon1"], "prometheus") == before


def test_a_rule_promtool_rejects_never_reaches_prometheus(hosts):
    checksums = "sha256sum /etc/prometheus/rules/*.rules /etc/prometheus/prometheus.yml"
    before = hosts["mon1"].check_output(checksums)
    extra = json.dumps({"prometheus_rules_extra": [{"name": "broken", "rules": [
        {"alert": "Broken", "expr": "rate(up[5m]"}]}]})
    code, output, _ = run_playbook("converge.yml", "--limit", "mon1", "--tags", "prometheus::rules", "-e", extra)
    assert code != 0
    # promtool (the copy's validate) refused the file: not the input checks, not another task
    assert "TASK [bizra.infra.prometheus : Write the inventory's own rules]" in output
    assert "failed to validate" in output, output[-3000:]
    assert hosts["mon1"].check_output(checksums) == before
    runtime = get_json(f"{PROMETHEUS}/api/v1/status/runtimeinfo")["data"]
    assert runtime["reloadConfigSuccess"] is True


@pytest.mark.parametrize(("limit", "extra", "messages"), [
    # each host stops at the first role that refuses (and a play whose hosts all fail ends the run)
    ("mon1", {"prometheus_scrape_jobs": [{"name": "node", "group": "all", "port": 99999}],
              "prometheus_scrape_interval": "fast"},
     ["prometheus_scrape_jobs: job 'node': port 99999 is not in 1..65535",
      "prometheus_scrape_interval 'fast' is not a Prometheus duration"]),
    ("mon1", {"alertmanager_route": {"receiver": "nobody"}},
     ["alertmanager_route names receivers that alertmanager_receivers does not define: nobody"]),
    ("influx1", {"influxdb_databases": [{"name": "markets",
                                         "retention_policies": [{"name": "raw", "duration": "90 days"}]}]},
     ["influxdb_databases: retention policy duration '90 days' is not INF or a duration like 90d"]),
])
def test_bad_input_is_refused_before_anything_changes(hosts, limit, extra, messages):
    checksums = "sha256sum /etc/prometheus/*.yml /etc/influxdb/influxdb.conf 2>/dev/null"
    before = {name: host.check_output(f"{checksums} || true") for name, host in hosts.items()}
    code, output, recap = run_playbook("converge.yml", "--limit", limit, "-e", json.dumps(extra))
    folded = " ".join(output.split())
    assert code != 0
    for message in messages:
        assert message in folded, folded[-2000:]
    assert_nothing_changed(recap, output, [limit])
    after = {name: host.check_output(f"{checksums} || true") for name, host in hosts.items()}
    assert before == after


def test_receiver_secrets_stay_in_a_closed_file_and_out_of_the_output(hosts):
    token = secret("mol-mon-webhook-token")
    config = hosts["mon1"].file("/etc/prometheus/alertmanager.yml")
    assert config.mode == 0o640 and config.user == "root" and config.group == "prometheus"
    assert token in config.content_string
    code, output, _ = run_playbook("converge.yml", "--limit", "mon1", "--tags", "alertmanager::config",
                                   "--check", "--diff")
    assert code == 0, output
    assert token not in output


def alertmanager_metric(name: str) -> float:
    with urllib.request.urlopen(f"{ALERTMANAGER}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return float(next(line.split()[-1] for line in lines if line.startswith(name + " ")))


def test_a_vaulted_receiver_secret_arrives_as_the_secret(hosts, tmp_path):
    """Production's pattern: the receiver URL from an Ansible Vault value (!vault in the inventory)."""
    canary = f"vault-canary-{secrets.token_hex(8)}"
    password = tmp_path / "vault-password"
    password.write_text(secrets.token_hex(16))
    password.chmod(0o600)
    encrypted = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-vault"), "encrypt_string", "--vault-password-file", str(password),
         "--stdin-name", "vault_pager_webhook_url"],
        input=f"http://10.89.70.20:9999/hook/{canary}", capture_output=True, text=True, check=True).stdout
    hash_before = alertmanager_metric("alertmanager_config_hash")
    vaulted = tmp_path / "vaulted.yml"
    vaulted.write_text(encrypted.rstrip("\n") + "\n"
                       "alertmanager_receivers:\n  - name: sre\n  - name: pager\n    webhook_configs:\n"
                       "      - url: '{{ vault_pager_webhook_url }}'\n        send_resolved: true\n")
    try:
        code, output, _ = run_playbook("converge.yml", "--limit", "mon1", "--tags", "alertmanager::config",
                                       "-e", f"@{vaulted}", "--vault-password-file", str(password))
        assert code == 0, output[-3000:]
        assert canary not in output
        config = hosts["mon1"].file("/etc/prometheus/alertmanager.yml")
        assert f"url: http://10.89.70.20:9999/hook/{canary}" in config.content_string
        assert "$ANSIBLE_VAULT" not in config.content_string and "!vault" not in config.content_string
        assert config.mode == 0o640
        # Alertmanager loaded it (a new configuration, reloaded without error)
        wait_for(lambda: alertmanager_metric("alertmanager_config_hash") != hash_before, 30, "the reload")
        assert alertmanager_metric("alertmanager_config_last_reload_successful") == 1
    finally:  # back to the scenario's own receivers
        code, output, _ = run_playbook("converge.yml", "--limit", "mon1", "--tags", "alertmanager::config")
        assert code == 0, output[-3000:]


def influx_query(query: str, auth: tuple[str, str] | None, database: str | None = None) -> dict:
    params = {"q": query} | ({"db": database} if database else {})
    return get_json(f"{INFLUXDB}/query?{urllib.parse.urlencode(params)}", auth)


def admin() -> tuple[str, str]:
    return ("admin", secret("mol-mon-influxdb-admin"))


def test_influxdb_refuses_unauthenticated_and_wrong_passwords():
    for auth in (None, ("admin", "not-the-password")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            influx_query("SHOW DATABASES", auth)
        assert refused.value.code == 401
    assert ["markets"] in influx_query("SHOW DATABASES", admin())["results"][0]["series"][0]["values"]


def test_retention_policies_and_continuous_queries_are_as_declared():
    policies = influx_query("SHOW RETENTION POLICIES ON markets", admin())["results"][0]["series"][0]
    rows = {row[0]: dict(zip(policies["columns"], row, strict=True)) for row in policies["values"]}
    assert rows["market_data"]["duration"] == "2160h0m0s" and rows["market_data"]["shardGroupDuration"] == "24h0m0s"
    assert rows["market_data"]["default"] is True
    assert rows["market_data_1m"]["duration"] == "8760h0m0s"
    assert rows["market_data_1h"]["duration"] == "0s"  # INF
    cqs = influx_query("SHOW CONTINUOUS QUERIES", admin())["results"][0]["series"]
    markets = next(s for s in cqs if s["name"] == "markets")
    assert sorted(row[0] for row in markets["values"]) == ["market_data_10s", "market_data_1h", "market_data_1m"]


def test_points_written_at_full_resolution_appear_downsampled():
    feed = ("market_feed", secret("mol-mon-influxdb-feed"))
    now = time.time_ns()
    lines = "\n".join(f"ticks,pair=ETHUSD price={3000 + i} {now + i * 100_000_000}" for i in range(10))
    request = urllib.request.Request(f"{INFLUXDB}/write?db=markets&rp=market_data", data=lines.encode(), method="POST")
    request.add_header("Authorization", basic_auth(*feed))
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204
    # the feed may write, not read
    with pytest.raises(urllib.error.HTTPError):
        influx_query('SELECT * FROM "market_data"."ticks"', feed, "markets")

    def downsampled():
        result = influx_query('SELECT mean_price FROM "market_data_10s"."ticks" WHERE pair = \'ETHUSD\'', admin(),
                              "markets")["results"][0]
        return result.get("series", [{}])[0].get("values")

    values = wait_for(downsampled, 45, "the 10 s continuous query to write the mean")
    assert any(row[1] is not None and 3000 <= row[1] <= 3009 for row in values), values
    raw = influx_query('SELECT count(price) FROM "market_data"."ticks"', admin(), "markets")
    assert raw["results"][0]["series"][0]["values"][0][1] == 10


def test_check_mode_on_the_converged_hosts_changes_nothing():
    code, output, recap = run_playbook("converge.yml", "--check")
    assert code == 0, output
    assert_nothing_changed(recap, output, ["mon1", "influx1"])
