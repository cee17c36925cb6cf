import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bizractl.errors import BadInputError
from bizractl.runs import (
    create_run_dir,
    new_run_id,
    parse_extra_vars,
    prune_runs,
    scrub_command_artifact,
    write_extra_vars,
)


def test_run_id_is_sortable_and_names_the_playbook():
    run_id = new_run_id(Path("site.yml"), datetime(2026, 11, 23, 4, 5, 6, tzinfo=UTC))
    assert run_id.startswith("20261123T040506Z-site-")


def test_run_dirs_are_private(tmp_path: Path):
    run_dir = create_run_dir(tmp_path / "runs", "r1")
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o700


def test_prune_keeps_the_newest(tmp_path: Path):
    for name in ("20260101T000000Z-a", "20260102T000000Z-b", "20260103T000000Z-c", ".locks"):
        (tmp_path / name).mkdir()
    (tmp_path / "audit.log").write_text("")
    removed = prune_runs(tmp_path, keep=2)
    assert [p.name for p in removed] == ["20260101T000000Z-a"]
    # The run locks and the audit trail are not runs: never pruned, never counted.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".locks", "20260102T000000Z-b", "20260103T000000Z-c",
                                                          "audit.log"]


def test_extra_vars_go_to_private_files(tmp_path: Path):
    tmp, files = write_extra_vars(("db_password=s3cret region=eu", '{"replicas": 3}', f"@{tmp_path}/v.yml"))
    try:
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o700
        assert json.loads(files[0].read_text()) == {"db_password": "s3cret", "region": "eu"}
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
        assert json.loads(files[1].read_text()) == {"replicas": 3}
        assert files[2] == (tmp_path / "v.yml").resolve()
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def test_no_extra_vars_no_files():
    assert write_extra_vars(()) == (None, ())


def test_bare_word_is_refused_without_echoing_it():
    with pytest.raises(BadInputError) as error:
        parse_extra_vars("hunter2")
    assert "hunter2" not in str(error.value)


def test_scrub_keeps_only_ansible_settings(tmp_path: Path):
    command = tmp_path / "command"
    command.write_text(json.dumps({"command": ["ansible-playbook"], "env": {
        "AWS_SECRET_ACCESS_KEY": "x", "VAULT_TOKEN": "y", "ANSIBLE_CONFIG": "/a.cfg", "PATH": "/bin"}}))
    os.chmod(command, 0o644)
    scrub_command_artifact(tmp_path)
    data = json.loads(command.read_text())
    assert data["env"] == {"ANSIBLE_CONFIG": "/a.cfg", "PATH": "/bin"}
    assert stat.S_IMODE(command.stat().st_mode) == 0o600


def test_bad_json_extra_vars_is_bad_input_naming_the_option_not_the_value():
    with pytest.raises(BadInputError) as error:
        parse_extra_vars('{"password": "hunter2", bad', 2)
    message = str(error.value)
    assert message.startswith("-e #2: not a valid JSON/YAML mapping (") and "line 1" in message
    assert "hunter2" not in message


def test_a_bad_extra_var_leaves_no_private_file(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(BadInputError, match="-e #2"):
        write_extra_vars(("token=s3cret", "{bad"))
    assert list(tmp_path.iterdir()) == []
