"""The geth node-key module: the enode id geth would print, keys made once, secrets never returned."""

import getpass
import grp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.modules.geth_node_keys import N, public_id

ANSIBLE_LOCAL = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-i", "localhost,",
                 "-e", "ansible_python_interpreter={{ ansible_playbook_python }}"]
USER = getpass.getuser()
GROUP = grp.getgrgid(os.getgid()).gr_name


def test_public_id_matches_what_geth_prints():
    # A node key geth 1.17.10 made, and the enode it printed for it (admin.nodeInfo.enode).
    key = 0x12cd4f824f0a858003e024ff4d408ddef1c0bde9748b1b0c1b7b98a65b650c06
    assert public_id(key) == ("bf9e8baf96780136a963c0fbf687ed7744de7f5cb90a99fb723d534cc60c080b"
                              "aaf4a9626da137bb7d9d62d70be66889b97b3c6f6b8693771fd196101fca7828")
    assert public_id(1) == ("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
                            "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8")  # G itself
    assert public_id(N - 1)[:64] == public_id(1)[:64]  # -G: same X, mirrored Y


def run(project_root: Path, args: dict, *flags: str) -> dict:
    env = {**os.environ, "ANSIBLE_CONFIG": str(project_root / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    result = subprocess.run([*ANSIBLE_LOCAL, "-m", "bizra.infra.geth_node_keys", "-a", json.dumps(args), *flags],
                            cwd=project_root, env=env, capture_output=True, text=True, timeout=120, check=False)
    host = json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return {**host, "stdout": result.stdout}


@pytest.fixture
def paths(tmp_path):
    return {"nodekey_path": str(tmp_path / "nodekey"), "jwt_path": str(tmp_path / "jwt.hex"),
            "owner": USER, "group": GROUP}


def test_keys_are_made_once_with_tight_modes_and_never_returned(project_root, tmp_path, paths):
    preview = run(project_root, paths, "--check")
    assert preview["changed"] is True and not (tmp_path / "nodekey").exists()
    made = run(project_root, paths)
    assert made["changed"] is True and sorted(made["made"]) == ["jwt", "nodekey"]
    nodekey = (tmp_path / "nodekey").read_text()
    secret = (tmp_path / "jwt.hex").read_text()
    assert oct((tmp_path / "nodekey").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "jwt.hex").stat().st_mode & 0o777) == "0o640"
    assert made["ansible_facts"]["geth_enode_id"] == public_id(int(nodekey, 16))
    assert nodekey not in made["stdout"] and secret not in made["stdout"]
    again = run(project_root, paths)
    assert again["changed"] is False and again["ansible_facts"] == made["ansible_facts"]
    assert (tmp_path / "jwt.hex").read_text() == secret


def test_a_given_secret_replaces_the_file_and_is_not_shown(project_root, tmp_path, paths):
    given = "ab" * 32
    run(project_root, paths)
    replaced = run(project_root, {**paths, "jwt_secret": "0x" + given.upper()})
    assert replaced["made"] == ["jwt"] and (tmp_path / "jwt.hex").read_text() == given
    assert given not in replaced["stdout"].lower()
    assert run(project_root, {**paths, "jwt_secret": given})["changed"] is False
    refused = run(project_root, {**paths, "jwt_secret": "not-hex"})
    assert refused.get("failed") and "64 hex digits" in refused["msg"] and "not-hex" not in refused["stdout"]


def test_reading_a_peer_changes_nothing(project_root, tmp_path, paths):
    absent = run(project_root, {**paths, "create": False})
    assert absent["changed"] is False and absent["ansible_facts"] == {} and not (tmp_path / "nodekey").exists()
    made = run(project_root, paths)
    read = run(project_root, {**paths, "create": False, "jwt_path": None})
    assert read["ansible_facts"] == made["ansible_facts"]


def test_a_file_that_is_not_a_node_key_is_left_alone(project_root, tmp_path, paths):
    (tmp_path / "nodekey").write_text("hello")
    refused = run(project_root, paths)
    assert refused.get("failed") and "is not a hex node key" in refused["msg"]
    assert (tmp_path / "nodekey").read_text() == "hello"
