import subprocess
import sys

from click.testing import CliRunner

from bizractl.cli import main
from bizractl.exitcodes import EXIT_BAD_INPUT


def test_help_does_not_import_ansible():
    """`bizractl --help` must stay instant: ansible_runner and ansible load only for a run."""
    code = ("import sys; from bizractl.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('ansible_runner', 'ansible', 'rich') if m in sys.modules]\n"
            "print('heavy=' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "heavy="


def test_unknown_playbook_is_bad_input(project_root):
    result = CliRunner().invoke(main, ["--project", str(project_root), "deploy", "no-such-playbook"])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "unknown playbook 'no-such-playbook'" in result.output
    assert "site" in result.output


def test_missing_inventory_is_bad_input(project_root):
    result = CliRunner().invoke(main, ["--project", str(project_root), "plan", "site", "-i", "nowhere"])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "looked at" in result.output


def test_missing_vault_password_file_is_bad_input(project_root, tmp_path):
    result = CliRunner().invoke(main, ["--project", str(project_root), "deploy", "site",
                                       "--vault-password-file", str(tmp_path / "nope")])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "--vault-password-file" in result.output


def test_not_a_project(tmp_path):
    result = CliRunner().invoke(main, ["--project", str(tmp_path), "deploy", "site"])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "no galaxy.yml for bizra.infra" in result.output
