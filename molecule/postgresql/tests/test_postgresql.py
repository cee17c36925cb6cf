"""The PostgreSQL cluster after converge + idempotence: replication, TLS, partitions, backups,
a rolling restart under load with zero lost commits, a switchover. Runs in file order."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scenario_helpers import assert_nothing_changed, lab_key, scenario_dir, ssh_host, wait_for
from scenario_helpers import run_playbook as run_scenario_playbook

ADDRESSES = {"pg1": "10.89.60.11", "pg2": "10.89.60.12", "pg3": "10.89.60.13", "backup1": "10.89.60.21",
             "restore1": "10.89.60.31"}
VERSION = 17
TLS_DIR = f"/etc/postgresql/{VERSION}/main/tls"
ROOT = Path(__file__).resolve().parents[3]
SECRETS = lab_key().parent.parent / "secrets"


def psql(host, sql: str, database: str = "postgres") -> str:
    # as the postgres OS user: the restore host has PostgreSQL's default peer rules only
    return host.check_output(f"runuser -u postgres -- psql -XAtq -d {database} -c \"{sql}\"")


def run_playbook(playbook: str, *args: str):
    """The scenario helper, with the output's whitespace folded (the YAML callback wraps messages)."""
    code, output, recap = run_scenario_playbook(playbook, *args)
    return code, " ".join(output.split()), recap


def app_password() -> str:
    return (SECRETS / "mol-pg-trading-app").read_text().split()[0]


@pytest.fixture(scope="module")
def hosts():
    return {name: ssh_host(address) for name, address in ADDRESSES.items()}


def test_a_row_written_on_the_primary_is_read_on_both_standbys(hosts):
    psql(hosts["pg1"], "CREATE SCHEMA IF NOT EXISTS bizra_probe; "
         "CREATE TABLE IF NOT EXISTS bizra_probe.rows (note text)", "trading")
    marker = f"row-{time.time_ns()}"
    psql(hosts["pg1"], f"INSERT INTO bizra_probe.rows VALUES ('{marker}')", "trading")
    for standby in ("pg2", "pg3"):
        # synchronous_commit on with ANY 1: one standby has it durably at commit; both replay it
        wait_for(lambda s=standby: marker in psql(hosts[s], "SELECT note FROM bizra_probe.rows", "trading"),
                 30, f"the row on {standby}")
        assert psql(hosts[standby], "SELECT pg_is_in_recovery()") == "t"


def test_the_primary_sees_both_standbys_streaming_in_the_wanted_sync_state(hosts):
    rows = psql(hosts["pg1"], "SELECT application_name, state, sync_state FROM pg_stat_replication "
                              "ORDER BY 1").splitlines()
    assert rows == ["pg2|streaming|quorum", "pg3|streaming|quorum"]
    assert psql(hosts["pg1"], "SHOW synchronous_standby_names") == 'ANY 1 ("pg2", "pg3")'
    assert psql(hosts["pg1"], "SHOW wal_level") == "logical"
    slots = psql(hosts["pg1"], "SELECT slot_name, active FROM pg_replication_slots ORDER BY 1").splitlines()
    assert slots == ["bizra_pg2|t", "bizra_pg3|t"]
    assert hosts["pg1"].check_output("psql --version").startswith(f"psql (PostgreSQL) {VERSION}.")


def test_remote_connections_need_tls_and_the_password(hosts):
    client = hosts["pg2"]
    base = f"host={ADDRESSES['pg1']} dbname=trading user=trading_app connect_timeout=5"
    env = f"PGPASSWORD='{app_password()}'"
    verified = client.run(f"{env} psql -XAtq \"{base} sslmode=verify-full sslrootcert={TLS_DIR}/ca.crt\" "
                          "-c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'")
    assert verified.rc == 0 and verified.stdout.strip() == "t", verified.stderr
    plain = client.run(f"{env} psql -XAtq \"{base} sslmode=disable\" -c 'SELECT 1'")
    assert plain.rc != 0 and "rejects connection" in plain.stderr
    wrong = client.run(f"PGPASSWORD=wrong psql -XAtq \"{base} sslmode=require\" -c 'SELECT 1'")
    assert wrong.rc != 0 and "password authentication failed" in wrong.stderr
    assert psql(hosts["pg1"], "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                              "WHERE rolname = 'trading_app'") == "t"


def test_partitions_and_indexes_exist_as_declared_on_primary_and_standbys(hosts):
    today = dt.datetime.now(dt.UTC).date()
    month = today.replace(day=1)
    months = []
    for ahead in range(4):  # current + premake 3
        index = month.year * 12 + month.month - 1 + ahead
        months.append(f"orders_p{index // 12}_{index % 12 + 1:02d}")
    monday = today - dt.timedelta(days=today.weekday())
    weeks = [f"trades_p{(monday + dt.timedelta(weeks=w)).isocalendar()[0]}"
             f"w{(monday + dt.timedelta(weeks=w)).isocalendar()[1]:02d}" for w in range(3)]
    for name in ("pg1", "pg3"):
        children = psql(hosts[name], "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                     "ORDER BY 1", "trading").splitlines()
        assert set(months) <= set(children) and set(weeks) <= set(children), children
        indexes = psql(hosts[name], "SELECT i.relname || ':' || am.amname || ':' || coalesce(array_to_string("
                                    "i.reloptions, ','), '') FROM pg_class i JOIN pg_am am ON am.oid = i.relam "
                                    "JOIN pg_index x ON x.indexrelid = i.oid JOIN pg_class t ON t.oid = x.indrelid "
                                    "WHERE t.relname IN ('orders', 'trades') ORDER BY 1", "trading").splitlines()
        assert indexes == [
            "orders_created_at_brin_idx:brin:pages_per_range=128",
            "orders_order_id_user_id_created_at_btree_idx:btree:",
            "orders_pkey:btree:",
            "orders_user_id_hash_idx:hash:",
            "trades_executed_at_brin_idx:brin:pages_per_range=128",
            "trades_pkey:btree:",
            "trades_token_address_hash_idx:hash:",
        ]
    assert psql(hosts["pg1"], "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'", "trading") == "trading_app"


def test_the_maintenance_timer_expires_partitions_past_retention(hosts):
    primary = hosts["pg1"]
    assert primary.service("bizra-pg-partitions.timer").is_enabled
    psql(primary, "CREATE TABLE orders_p2020_01 PARTITION OF orders "
                  "FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-02-01 00:00:00+00')", "trading")
    primary.check_output("systemctl start bizra-pg-partitions.service")
    assert psql(primary, "SELECT count(*) FROM pg_class WHERE relname = 'orders_p2020_01'", "trading") == "0"
    log = primary.check_output("journalctl -u bizra-pg-partitions.service --since -2min -o cat")
    assert "drop partition public.orders_p2020_01" in log
    # on a standby the job does nothing
    standby_run = hosts["pg2"].check_output("runuser -u postgres -- /usr/local/sbin/bizra-pg-partitions")
    assert '"role": "standby"' in standby_run


def test_check_mode_on_the_converged_cluster_changes_nothing():
    code, output, recap = run_playbook("converge.yml", "--check", "--diff")
    assert code == 0, output[-3000:]
    assert set(recap) == {"pg1", "pg2", "pg3", "backup1"}
    assert_nothing_changed(recap, output, recap)


def test_the_repository_holds_a_full_backup_and_the_archive_works(hosts):
    info = hosts["backup1"].check_output("runuser -u postgres -- pgbackrest --stanza=trading info")
    assert "status: ok" in info and "full backup" in info
    assert "cipher: aes-256-cbc" in info
    hosts["pg1"].check_output("runuser -u postgres -- pgbackrest --stanza=trading check")
    for timer in ("bizra-pgbackrest-full.timer", "bizra-pgbackrest-diff.timer"):
        assert hosts["backup1"].service(timer).is_enabled
    # the firewall lets the members and the restore target reach the repository's TLS port, no one else
    dropin = json.loads(hosts["backup1"].file("/etc/bizra/firewall.d/pgbackrest_repository.json").content_string)
    assert [(rule["name"], rule["ports"], sorted(rule["sources"])) for rule in dropin["rules"]] == [
        ("pgbackrest", [8432], sorted(ADDRESSES[name] for name in ("pg1", "pg2", "pg3", "restore1")))]


def test_the_repository_refuses_settings_its_members_do_not_share():
    code, output, recap = run_playbook("converge.yml", "--limit", "backup1", "-e", "pgbackrest_repository_stanza=other",
                                       "-e", "pgbackrest_repository_retention_full=0")
    assert code != 0
    assert ("pgbackrest_repository: invalid input on backup1: "
            "pgbackrest_repository_retention_full 0 must be at least 1; "
            "pgbackrest_repository_stanza is 'other' but member pg1 has postgresql_backup_stanza 'trading' "
            "(they must be equal)") in output
    assert "member pg3 has postgresql_backup_stanza 'trading'" in output
    assert_nothing_changed(recap, output, ["backup1"])
    assert not re.search(r"TASK \[bizra\.infra\.pgbackrest_repository : Install", output)


def test_a_backup_restores_to_a_point_in_time_on_a_fresh_host(hosts):
    primary = hosts["pg1"]
    psql(primary, "CREATE TABLE IF NOT EXISTS bizra_probe.pitr (note text)", "trading")
    psql(primary, "INSERT INTO bizra_probe.pitr VALUES ('before')", "trading")
    time.sleep(1.5)
    target = psql(primary, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    time.sleep(1.5)
    psql(primary, "INSERT INTO bizra_probe.pitr VALUES ('after')", "trading")
    # check switches WAL and waits until the segment holding both inserts is archived
    primary.check_output("runuser -u postgres -- pgbackrest --stanza=trading check")

    code, output, _ = run_playbook(str(ROOT / "playbooks/incident/pg_restore.yml"), "--limit", "restore1",
                                   "-e", f"pg_restore_target_time='{target}'", "-e", "incident_confirm=restore1")
    assert code == 0, output[-4000:]
    restored = hosts["restore1"]
    assert psql(restored, "SELECT pg_is_in_recovery()") == "f"
    assert psql(restored, "SELECT string_agg(note, ',') FROM bizra_probe.pitr", "trading") == "before"


def test_a_restore_needs_the_typed_confirmation_and_a_timestamp():
    code, output, _ = run_playbook(str(ROOT / "playbooks/incident/pg_restore.yml"), "--limit", "restore1",
                                   "-e", "pg_restore_target_time=yesterday", "-e", "incident_confirm=restore1")
    assert code != 0
    assert "pg_restore_target_time must be a timestamp" in output and "Nothing was changed" in output
    code, output, recap = run_playbook(str(ROOT / "playbooks/incident/pg_restore.yml"), "--limit", "restore1",
                                       "-e", "pg_restore_target_time='2026-11-23 10:42:00+00'",
                                       "-e", "incident_confirm=yes")
    assert code != 0
    assert "pg_restore replaces the data directory of restore1: confirm by typing the target's name, " \
        "-e incident_confirm=restore1 (bizractl incident asks for it), got yes. Nothing was changed." \
        in " ".join(output.split()), output[-2000:]
    assert recap["restore1"]["changed"] == 0


def test_a_restart_under_load_through_bizractl_loses_no_commit(hosts, tmp_path):
    primary, writer_host = hosts["pg1"], hosts["restore1"]
    psql(primary, "CREATE TABLE IF NOT EXISTS bizra_probe.commits (n bigint PRIMARY KEY); "
                  "GRANT USAGE ON SCHEMA bizra_probe TO trading_app; "
                  "GRANT SELECT, INSERT ON bizra_probe.commits TO trading_app", "trading")
    psql(primary, "TRUNCATE bizra_probe.commits", "trading")
    started = {n: psql(hosts[n], "SELECT pg_postmaster_start_time()") for n in ("pg1", "pg2", "pg3")}
    writer_host.run("rm -f /tmp/acked /tmp/stop-writer")
    writer_host.check_output(f"install -m 0755 /dev/stdin /tmp/pg_writer.py <<'EOF'\n"
                             f"{(Path(__file__).parent / 'pg_writer.py').read_text()}EOF")
    restored_ca = "/etc/pgbackrest/tls/ca.crt"  # the internal CA, installed by the restore
    dsn = (f"host={ADDRESSES['pg1']} dbname=trading user=trading_app password={app_password()} "
           f"sslmode=verify-full sslrootcert={restored_ca} application_name=zero-lost-writer")
    writer_host.check_output(f"nohup python3 /tmp/pg_writer.py --dsn '{dsn}' --acked /tmp/acked "
                             f"--stop-file /tmp/stop-writer --seconds 900 > /tmp/writer.log 2>&1 &")
    wait_for(lambda: writer_host.run("wc -l < /tmp/acked").stdout.strip() not in ("", "0"), 30, "the writer")

    env = {**os.environ, "BIZRA_RUNS_DIR": str(tmp_path)}
    deploy = subprocess.run(
        [sys.executable, "-m", "bizractl", "--project", str(ROOT), "deploy", "postgresql.yml",
         "-i", str(scenario_dir() / "inventory" / "hosts.yml"),
         "-e", '{"postgresql_settings": {"max_connections": 250}}'],
        capture_output=True, text=True, env=env, check=False, timeout=1800)
    time.sleep(3)  # a few more commits after the last restart
    writer_host.check_output("touch /tmp/stop-writer")
    wait_for(lambda: "written" in writer_host.run("cat /tmp/writer.log").stdout, 30, "the writer to stop")
    assert deploy.returncode == 0, deploy.stdout[-4000:] + deploy.stderr[-2000:]

    # the restart happened everywhere, standbys first and the primary last, one at a time
    restarted = {n: psql(hosts[n], "SELECT pg_postmaster_start_time()") for n in ("pg1", "pg2", "pg3")}
    assert all(restarted[n] != started[n] for n in restarted), (started, restarted)
    assert max(restarted["pg2"], restarted["pg3"]) < restarted["pg1"]
    assert {psql(hosts[n], "SHOW max_connections") for n in ("pg1", "pg2", "pg3")} == {"250"}

    acked = [int(line) for line in writer_host.check_output("cat /tmp/acked").split()]
    assert len(acked) > 50, writer_host.check_output("cat /tmp/writer.log")
    expected = set(acked)
    primary_lsn = psql(primary, "SELECT pg_current_wal_lsn()")
    for name in ("pg1", "pg2", "pg3"):
        if name != "pg1":
            wait_for(lambda n=name: psql(hosts[n], f"SELECT pg_last_wal_replay_lsn() >= '{primary_lsn}'") == "t",
                     60, f"{name} to replay")
        present = set(map(int, psql(hosts[name], "SELECT n FROM bizra_probe.commits", "trading").split()))
        lost = expected - present
        assert not lost, f"{name} lost {len(lost)} acknowledged commits: {sorted(lost)[:10]}"


def test_lowering_max_connections_again_restarts_the_primary_first(hosts):
    """A standby cannot run with max_connections below the primary's: a decrease goes primary first."""
    started = {n: psql(hosts[n], "SELECT pg_postmaster_start_time()") for n in ("pg1", "pg2", "pg3")}
    code, output, _ = run_playbook("converge.yml")  # the inventory's value again: 200
    assert code == 0, output[-4000:]
    restarted = {n: psql(hosts[n], "SELECT pg_postmaster_start_time()") for n in ("pg1", "pg2", "pg3")}
    assert all(restarted[n] != started[n] for n in restarted), (started, restarted)
    assert restarted["pg1"] < min(restarted["pg2"], restarted["pg3"])
    assert {psql(hosts[n], "SHOW max_connections") for n in ("pg1", "pg2", "pg3")} == {"200"}
    assert psql(hosts["pg1"], "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "2"


def test_a_setting_postgresql_rejects_is_never_written(hosts):
    """A value the server would refuse at its next restart is caught before the file is replaced:
    no reload, no restart, the running servers keep their settings."""
    conf = f"/etc/postgresql/{VERSION}/main/conf.d/90-bizra.conf"
    members = ("pg1", "pg2", "pg3")

    def state():
        return {n: (hosts[n].check_output(f"sha256sum {conf}"), psql(hosts[n], "SHOW shared_buffers"),
                    psql(hosts[n], "SELECT pg_postmaster_start_time()")) for n in members}

    before = state()
    # A value only the server knows is wrong (sizes and durations are checked offline first).
    code, output, recap = run_playbook("converge.yml", "-e",
                                       '{"postgresql_settings": {"default_transaction_isolation": "sometimes"}}')
    assert code != 0
    assert (f'postgresql_settings: PostgreSQL {VERSION} on pg1 rejects the server settings: invalid value for '
            'parameter "default_transaction_isolation": "sometimes"' in output), output[-4000:]
    assert "Nothing was written; the running server keeps its settings." in output
    assert_nothing_changed(recap, output, list(members))
    assert state() == before


def test_switchover_refuses_a_host_that_is_not_a_running_standby():
    code, output, recap = run_playbook(str(ROOT / "playbooks/incident/pg_switchover.yml"),
                                       "-e", "pg_switchover_to=backup1")
    assert code != 0
    assert "pg_switchover_to must name a running standby" in output and "Nothing was changed" in output
    assert_nothing_changed(recap, output, ["pg1", "pg2", "pg3"])


def test_switchover_to_a_synchronous_standby_and_the_old_primary_streams(hosts):
    # A counting writer follows the primary through the switchover (libpq multi-host, read-write
    # target): no acknowledged commit may be lost, and the new primary must take synchronous
    # commits within 5 s of its promotion (slots and repointing come before the rest).
    writer_host, primary = hosts["restore1"], hosts["pg1"]
    psql(primary, "TRUNCATE bizra_probe.commits", "trading")
    writer_host.run("rm -f /tmp/acked /tmp/times /tmp/stop-writer /tmp/writer.log")
    members = ",".join(ADDRESSES[n] for n in ("pg1", "pg2", "pg3"))
    dsn = (f"host={members} dbname=trading user=trading_app password={app_password()} "
           f"target_session_attrs=read-write sslmode=verify-full sslrootcert=/etc/pgbackrest/tls/ca.crt "
           f"application_name=switchover-writer")
    writer_host.check_output(f"nohup python3 /tmp/pg_writer.py --dsn '{dsn}' --acked /tmp/acked --times /tmp/times "
                             f"--stop-file /tmp/stop-writer --seconds 600 > /tmp/writer.log 2>&1 &")
    wait_for(lambda: writer_host.run("wc -l < /tmp/acked").stdout.strip() not in ("", "0"), 30, "the writer")

    code, output, _ = run_playbook(str(ROOT / "playbooks/incident/pg_switchover.yml"), "-e", "pg_switchover_to=pg2")
    time.sleep(3)  # commits on the new primary
    writer_host.check_output("touch /tmp/stop-writer")
    wait_for(lambda: "written" in writer_host.run("cat /tmp/writer.log").stdout, 30, "the writer to stop")
    assert code == 0, output[-4000:]

    rows = [line.split() for line in writer_host.check_output("cat /tmp/times").splitlines()]
    on_old = [float(t) for _, t, server in rows if server == ADDRESSES["pg1"]]
    on_new = [float(t) for _, t, server in rows if server == ADDRESSES["pg2"]]
    assert on_old and on_new, writer_host.check_output("cat /tmp/writer.log")
    # pg2's new timeline began at its promotion: the history file it wrote then
    promoted = int(hosts["pg2"].check_output(
        f"stat -c %Y $(ls -t /var/lib/postgresql/{VERSION}/main/pg_wal/*.history | head -n 1)"))
    outage, after_promotion = min(on_new) - max(on_old), min(on_new) - promoted
    print(f"switchover: writes stopped for {outage:.1f} s; first synchronous commit on pg2 "
          f"{after_promotion:.1f} s after its promotion ({len(on_old)} commits before, {len(on_new)} after)")
    assert after_promotion <= 5, f"first commit on the new primary {after_promotion:.1f} s after its promotion"
    acked = {int(n) for n, _, _ in rows}
    present = set(map(int, psql(hosts["pg2"], "SELECT n FROM bizra_probe.commits", "trading").split()))
    assert not acked - present, f"lost acknowledged commits: {sorted(acked - present)[:10]}"

    assert "Move pg2 into the postgresql_primary group" in output
    new, old = hosts["pg2"], hosts["pg1"]
    assert psql(new, "SELECT pg_is_in_recovery()") == "f"
    assert psql(old, "SELECT pg_is_in_recovery()") == "t"
    marker = f"after-switchover-{time.time_ns()}"
    psql(new, f"INSERT INTO bizra_probe.rows VALUES ('{marker}')", "trading")
    wait_for(lambda: psql(new, "SELECT string_agg(application_name || ':' || state, ',' ORDER BY application_name) "
                               "FROM pg_stat_replication") == "pg1:streaming,pg3:streaming", 60, "both to stream")
    for name in ("pg1", "pg3"):
        wait_for(lambda n=name: marker in psql(hosts[n], "SELECT note FROM bizra_probe.rows", "trading"),
                 30, f"the row on {name}")


def test_the_role_refuses_to_run_against_a_primary_the_inventory_does_not_name():
    code, output, recap = run_playbook("converge.yml")
    assert code != 0
    assert "the running primary is pg2 but the inventory names pg1" in output
    # ... and never suggests wiping the running primary
    assert '"postgresql_reclone": ["pg2"]' not in output
    assert_nothing_changed(recap, output, ["pg1", "pg2", "pg3"])


def test_failover_promotes_a_synchronous_standby_and_fences_the_lost_primary(hosts):
    failover = str(ROOT / "playbooks/incident/pg_failover.yml")
    # refused while the primary (pg2 since the switchover) runs
    code, output, _ = run_playbook(failover, "-e", "incident_confirm=pg2", "-e", "pg_failover_from=pg2")
    assert code != 0 and "runs as primary: this is not a failover" in output
    marker = f"before-failover-{time.time_ns()}"
    psql(hosts["pg2"], f"INSERT INTO bizra_probe.rows VALUES ('{marker}')", "trading")
    hosts["pg2"].check_output(f"systemctl stop postgresql@{VERSION}-main")  # the primary is lost

    code, output, _ = run_playbook(failover, "-e", "incident_confirm=pg2", "-e", "pg_failover_from=pg2")
    assert code == 0, output[-4000:]
    roles = {n: psql(hosts[n], "SELECT pg_is_in_recovery()") for n in ("pg1", "pg3")}
    assert sorted(roles.values()) == ["f", "t"], roles
    new = next(n for n, r in roles.items() if r == "f")
    other = "pg3" if new == "pg1" else "pg1"
    # the acknowledged commit survived, the new primary takes writes and the other standby follows it
    assert marker in psql(hosts[new], "SELECT note FROM bizra_probe.rows", "trading")
    after = f"after-failover-{time.time_ns()}"
    psql(hosts[new], f"INSERT INTO bizra_probe.rows VALUES ('{after}')", "trading")
    wait_for(lambda: after in psql(hosts[other], "SELECT note FROM bizra_probe.rows", "trading"), 60,
             f"the row on {other}")
    # the old primary is fenced: stopped, not started at boot, and would start as a standby
    lost = hosts["pg2"]
    assert not lost.service(f"postgresql@{VERSION}-main").is_running
    assert not lost.service(f"postgresql@{VERSION}-main").is_enabled
    assert lost.file(f"/var/lib/postgresql/{VERSION}/main/standby.signal").exists


def test_bad_input_is_refused_before_anything_changes():
    tables = ('[{"database": "trading", "name": "ticks", "columns": ["at timestamptz NOT NULL"], '
              '"partition_key": "at", "interval": "fortnightly", "retention": 3}]')
    code, output, recap = run_playbook(
        "converge.yml", "-e", "postgresql_synchronous_count=3", "-e", "postgresql_replication_password=''",
        "-e", f'{{"postgresql_partitioned_tables": {tables}}}', "--limit", "pg1,pg3")
    assert code != 0
    assert "postgresql_synchronous_count 3 is more than the 2 standbys of the cluster (pg2, pg3)" in output
    assert "postgresql_replication_password is empty: set it from Ansible Vault" in output
    assert "interval 'fortnightly' is not one of daily, weekly, monthly" in output
    assert_nothing_changed(recap, output, ["pg1", "pg3"])
    assert not re.search(r"TASK \[bizra\.infra\.postgresql : Install", output)
