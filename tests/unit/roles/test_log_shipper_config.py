"""The log_shipper role's rsyslog configuration: the journal always, and the log files of the services
of the host's groups (PostgreSQL's), each followed with its dataset and its entries' first line.
Rendered by Ansible as the role renders it; rsyslogd itself checks it on the lab hosts (e2e)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.unit.roles.role_template import render_role_template, run_role_validate

TEMPLATE = "etc/rsyslog.d/60-bizra-ship.conf.j2"


def one_host_inventory(tmp_path: Path, group: str) -> Path:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        f"all:\n  children:\n    {group}:\n      hosts:\n        node1:\n"
        "          ansible_connection: local\n          ansible_python_interpreter: '{{ ansible_playbook_python }}'\n",
        encoding="utf-8")
    return inventory


def render(tmp_path: Path, group: str, extra: dict | None = None) -> str:
    variables = {"log_shipper_servers": ["10.0.0.5"], "log_shipper_tls": False, **(extra or {})}
    return render_role_template("log_shipper", TEMPLATE, tmp_path / "ship.conf", variables, host="node1",
                                inventory=one_host_inventory(tmp_path, group))


def validate(tmp_path: Path, extra: dict) -> subprocess.CompletedProcess:
    return run_role_validate("log_shipper", "node1", one_host_inventory(tmp_path, "postgresql"),
                             {"log_shipper_servers": ["10.0.0.5"], "log_shipper_tls": False, **extra}, tmp_path)


def test_a_postgresql_host_follows_its_log_files_with_their_dataset_and_first_line(tmp_path):
    config = render(tmp_path, "postgresql")
    assert 'module(load="imfile" statefile.directory="/var/spool/rsyslog")' in config
    assert ('input(type="imfile" File="/var/log/postgresql/postgresql-*.log" Tag="postgresql" '
            'Ruleset="bizra_ship_file"') in config
    assert 'freshStartTail="on" addMetadata="on" escapeLF="off"' in config
    assert 'startmsg.regex="^[0-9]{4}-[0-9]{2}-[0-9]{2} " readTimeout="2")' in config
    # Both inputs end in the one Elasticsearch action, each with its dataset.
    assert config.count('action(type="omelasticsearch"') == 1
    assert 'set $.dataset = $programname;' in config
    assert 'set $.dataset = "journald";' in config
    assert 'property(outname="event.dataset" name="$.dataset" format="jsonf")' in config


def test_a_host_without_such_services_reads_the_journal_only(tmp_path):
    config = render(tmp_path, "logging")
    assert "imfile" not in config
    assert "bizra_ship_file" not in config
    assert 'module(load="imjournal"' in config
    assert 'server=["10.0.0.5"] serverport="9200"' in config


def test_files_the_operator_adds_are_followed_too(tmp_path):
    config = render(tmp_path, "logging", {"log_shipper_files": [
        {"path": "/var/log/app/trading.log", "dataset": "trading"}]})
    assert 'input(type="imfile" File="/var/log/app/trading.log" Tag="trading" Ruleset="bizra_ship_file"' in config
    # No first-line pattern: every line is an entry, nothing waits for a next line.
    assert "startmsg.regex" not in config


def test_the_default_files_and_good_ones_pass_the_checks(tmp_path):
    done = validate(tmp_path, {})
    assert done.returncode == 0, done.stdout + done.stderr
    done = validate(tmp_path, {"log_shipper_files": [{"path": "/var/log/app/*.log", "dataset": "app.trading"}]})
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("entry", "message"), [
    ({"path": "var/log/app.log", "dataset": "app"}, "log_shipper_files: path 'var/log/app.log' is not absolute"),
    ({"path": "/var/log/app.log", "dataset": "App Log"},
     "log_shipper_files: dataset 'App Log' is not a lower-case name"),
])
def test_a_bad_file_entry_is_refused_naming_it(tmp_path, entry, message):
    done = validate(tmp_path, {"log_shipper_files": [entry]})
    assert done.returncode != 0
    assert message in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
