"""bizractl incident: the list read from the playbooks' headers, and the one confirmation style."""

from pathlib import Path

import pytest
from click.testing import CliRunner

import bizractl.cli
from bizractl import incidents
from bizractl.cli import main
from bizractl.errors import BadInputError
from bizractl.exitcodes import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[3]
# The incident playbooks that replace, write or cut something (issue 15's list).
DESTRUCTIVE = {"fw_set", "geth_rollback", "pg_failover", "pg_restore", "raid_replace_disk"}


def test_every_incident_playbook_has_a_summary_and_the_destructive_ones_are_marked():
    found = incidents.available(ROOT)
    assert {i.name for i in found} >= DESTRUCTIVE | {"bgp_status", "pg_switchover"}
    assert all(i.summary for i in found)
    assert {i.name for i in found if i.destructive} == DESTRUCTIVE


def test_every_destructive_playbook_checks_the_one_confirmation():
    for name in DESTRUCTIVE:
        text = (ROOT / "playbooks" / "incident" / f"{name}.yml").read_text()
        assert "import_tasks: tasks/confirm.yml" in text, name
        assert "_confirm: \"\"" not in text, f"{name} keeps a confirmation variable of its own"


def test_header_parsing(tmp_path):
    (tmp_path / "playbooks" / "incident").mkdir(parents=True)
    path = tmp_path / "playbooks" / "incident" / "wipe.yml"
    path.write_text("---\n# Wipe a host's data, then rebuild it from the\n# backup. More words.\n"
                    "#   bizractl incident wipe\n# Destructive: the data goes; confirm with the host's name.\n"
                    "- hosts: all\n# not the header\n")
    assert incidents.read(path) == incidents.Incident(
        "wipe", "Wipe a host's data, then rebuild it from the backup", "the data goes; confirm with the host's name")
    assert incidents.find(tmp_path, "incident/wipe.yml").name == "wipe"
    with pytest.raises(BadInputError, match=r"unknown incident playbook 'nope'\. Available: wipe"):
        incidents.find(tmp_path, "nope")


@pytest.mark.parametrize(("values", "given"), [
    ((), False), (("pg_restore_target_time=x",), False), (("incident_confirm=pg1",), True),
    (('{"incident_confirm": "pg1"}',), True),
])
def test_confirmation_given(values, given):
    assert incidents.confirmation_given(values) is given


def _runs(monkeypatch):
    calls = []
    monkeypatch.setattr(bizractl.cli, "_run", lambda ctx, playbook, **kw: calls.append((playbook, kw)))
    return calls


def test_the_list_names_each_playbook_once():
    result = CliRunner().invoke(main, ["--project", str(ROOT), "incident"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any(line.split()[:2] == ["pg_failover", "destructive"] for line in lines)
    assert any(line.split()[0] == "pg_switchover" and "destructive" not in line for line in lines)


def test_a_destructive_playbook_without_a_terminal_needs_confirm(monkeypatch):
    calls = _runs(monkeypatch)
    result = CliRunner().invoke(main, ["--project", str(ROOT), "incident", "pg_restore", "-l", "restore1"])
    assert result.exit_code == EXIT_BAD_INPUT and calls == []
    assert "incident/pg_restore is destructive" in result.output and "give --confirm TARGET" in result.output


def test_the_typed_name_or_confirm_reaches_the_playbook(monkeypatch):
    calls = _runs(monkeypatch)
    monkeypatch.setattr(bizractl.cli, "_interactive", lambda: True)
    result = CliRunner().invoke(main, ["--project", str(ROOT), "incident", "pg_restore", "-l", "restore1"],
                                input="restore1\n")
    assert result.exit_code == 0, result.output
    assert "Type the target's name to go on" in result.output
    assert calls[-1][0] == "incident/pg_restore" and calls[-1][1]["extra_vars"][-1] == "incident_confirm=restore1"
    CliRunner().invoke(main, ["--project", str(ROOT), "incident", "fw_set", "--confirm", "geth1",
                              "-e", "fw_target=geth1"])
    assert calls[-1][1]["extra_vars"] == ("fw_target=geth1", "incident_confirm=geth1")


def test_a_safe_playbook_is_not_confirmed(monkeypatch):
    calls = _runs(monkeypatch)
    result = CliRunner().invoke(main, ["--project", str(ROOT), "incident", "bgp_status"])
    assert result.exit_code == 0 and calls[-1][1]["extra_vars"] == ()
