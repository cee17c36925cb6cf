"""admin_users_drift: a user is left alone only when the probe shows exactly what the modules would
write; against the real ansible.posix.authorized_key, its file for our key lines is the one expected."""

import hashlib
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.plugin_utils.admin_users import admin_users_drift, authorized_keys_text

BOB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob@example"
# Another real key, written without its comment.
NO_COMMENT = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKBjHju/IU6WxkwkwmJoE8VagnSPwN1unqxcx5japYKM"
USERS = [
    {"name": "alice", "comment": "Alice, SRE", "ssh_keys": [BOB, NO_COMMENT]},
    {"name": "bob", "groups": ["adm"], "shell": "/bin/zsh", "ssh_keys": [BOB]},
    {"name": "mallory", "state": "absent"},
]
ROOT = Path(__file__).resolve().parents[4]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def converged() -> dict[str, str]:
    return {
        "user:alice": "alice:x:1001:1001:Alice, SRE:/home/alice:/bin/bash", "groups:alice": "",
        "keys:alice": sha(f"{BOB}\n{NO_COMMENT} \n"),
        "user:bob": "bob:x:1002:1002::/home/bob:/bin/zsh", "groups:bob": "adm ",
        "keys:bob": sha(f"{BOB}\n"),
        "user:mallory": "",
    }


def test_a_converged_host_has_no_drift():
    assert admin_users_drift(USERS, converged()) == []


@pytest.mark.parametrize(("key", "value", "drifted"), [
    ("user:alice", "alice:x:1001:1001:Alice:/home/alice:/bin/bash", "alice"),  # comment
    ("user:bob", "bob:x:1002:1002::/home/bob:/bin/bash", "bob"),  # shell
    ("user:bob", "", "bob"),  # missing
    ("groups:bob", "adm sudo", "bob"),  # a group too many
    ("groups:alice", "adm", "alice"),  # groups: [] removes them all
    ("keys:alice", sha(f"{BOB}\n"), "alice"),  # a key missing
    ("keys:bob", sha(f"{BOB}\n{NO_COMMENT} \n"), "bob"),  # exclusive: a key too many
    ("user:mallory", "mallory:x:1003:1003::/home/mallory:/bin/sh", "mallory"),  # to be removed
])
def test_each_difference_is_drift(key, value, drifted):
    state = converged() | {key: value}
    assert admin_users_drift(USERS, state) == [drifted]


def test_what_the_probe_did_not_read_is_drift():
    state = {k: v for k, v in converged().items() if not k.startswith("groups:bob")}
    assert admin_users_drift(USERS, state) == ["bob"]
    assert admin_users_drift(USERS, {}) == ["alice", "bob", "mallory"]


def test_a_key_line_with_options_or_listed_twice_is_left_to_the_module():
    assert authorized_keys_text([f'from="10.0.0.1" {BOB}']) is None
    assert authorized_keys_text([BOB, BOB.removesuffix(" bob@example")]) is None
    users = [{"name": "alice", "ssh_keys": [f"no-pty {BOB}"]}]
    assert admin_users_drift(users, {"user:alice": "alice:x:1:1::/h:/bin/bash", "groups:alice": "",
                                     "keys:alice": sha(f"no-pty {BOB}\n")}) == ["alice"]


def test_the_expected_text_is_what_authorized_key_writes(tmp_path):
    """Run the real module (exclusive, as the role does) on a file of our own, and compare."""
    keys_file = tmp_path / "authorized_keys"
    me = pwd.getpwuid(os.getuid()).pw_name
    keys = [BOB, NO_COMMENT]
    args = json.dumps({"user": me, "path": str(keys_file), "exclusive": True, "manage_dir": False,
                       "key": "\n".join(keys)})
    ansible = str(Path(sys.executable).parent / "ansible")
    result = subprocess.run(
        [ansible, "all", "-i", "localhost,", "-c", "local", "-m", "ansible.posix.authorized_key", "-a", args,
         "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STRATEGY": "linear"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert keys_file.read_text() == authorized_keys_text(keys)
