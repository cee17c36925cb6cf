"""The one conftest of every scenario's verifier: the shared helpers are importable as
`scenario_helpers` (pytest finds this file between the repository root and each tests/ folder)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared"))


def _lab_key_for_testinfra() -> None:
    """testinfra's ansible:// backend reads inventory variables as written, untemplated, so the
    lab key ('{{ lab_home }}/ssh/id_ed25519') reached ssh as that literal text: it worked only
    while a master connection Ansible had left open (ControlPersist) was reused. The real path."""
    from scenario_helpers import lab_key
    from testinfra.utils import ansible_runner

    untemplated = ansible_runner.get_ansible_inventory

    def get_ansible_inventory(*args, **kwargs):
        inventory = untemplated(*args, **kwargs)
        for hostvars in inventory.get("_meta", {}).get("hostvars", {}).values():
            if "{{" in str(hostvars.get("ansible_ssh_private_key_file", "")):
                hostvars["ansible_ssh_private_key_file"] = str(lab_key())
        return inventory

    ansible_runner.get_ansible_inventory = get_ansible_inventory


_lab_key_for_testinfra()
