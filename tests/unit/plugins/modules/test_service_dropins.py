"""The drop-in export every service role uses: content, removal, check mode, run through Ansible."""

import json
import os
import subprocess
import sys
from pathlib import Path

from plugins.modules.service_dropins import converge, render, wanted_documents

# The controller's own Python runs the module: the machine's python3 may not be the venv's.
ANSIBLE_LOCAL = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-i", "localhost,",
                 "-e", "ansible_python_interpreter={{ ansible_playbook_python }}"]
RULE = {"name": "node_exporter", "proto": "tcp", "ports": [9100], "sources": ["10.89.10.71"]}


class FakeModule:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    @staticmethod
    def atomic_move(source, destination):
        os.replace(source, destination)


def params(tmp_path, **overrides):
    return {"role": "node_exporter", "firewall_rules": [], "selinux": {},
            "firewall_dir": str(tmp_path / "firewall.d"), "selinux_dir": str(tmp_path / "selinux.d"), **overrides}


def test_render_matches_to_nice_json():
    # What earlier releases wrote with `to_nice_json` + "\n": hosts converged by them stay unchanged.
    assert render({"rules": [RULE], "role": "x"}) == json.dumps({"role": "x", "rules": [RULE]}, indent=4,
                                                                  sort_keys=True) + "\n"


def test_documents_for_rules_and_labels(tmp_path):
    wanted = wanted_documents(params(tmp_path, firewall_rules=[RULE],
                                     selinux={"fcontexts": [{"target": "/srv(/.*)?", "setype": "var_t"}], "ports": []}))
    firewall, selinux = wanted.values()
    assert json.loads(firewall) == {"role": "node_exporter", "rules": [RULE]}
    assert json.loads(selinux) == {"role": "node_exporter", "fcontexts": [{"target": "/srv(/.*)?", "setype": "var_t"}],
                                   "ports": []}


def test_empty_exports_mean_no_drop_in(tmp_path):
    assert list(wanted_documents(params(tmp_path, selinux={"ports": []})).values()) == [None, None]


def test_write_then_nothing_then_remove(tmp_path):
    path = str(tmp_path / "firewall.d" / "node_exporter.json")
    module = FakeModule()
    state, diff = converge(module, path, render({"role": "node_exporter", "rules": [RULE]}))
    assert state == "written" and diff["before"] == ""
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert converge(module, path, render({"role": "node_exporter", "rules": [RULE]})) == ("unchanged", None)
    state, diff = converge(module, path, None)
    assert state == "removed" and diff["after"] == "" and not os.path.exists(path)
    assert converge(module, path, None) == ("absent", None)


def test_check_mode_reports_and_touches_nothing(tmp_path):
    path = str(tmp_path / "firewall.d" / "node_exporter.json")
    state, diff = converge(FakeModule(check_mode=True), path, render({"role": "node_exporter", "rules": [RULE]}))
    assert state == "written" and '"node_exporter"' in diff["after"]
    assert not (tmp_path / "firewall.d").exists()


def run_module(project_root: Path, tmp_path: Path, args: dict, *flags: str) -> dict:
    env = {**os.environ, "ANSIBLE_CONFIG": str(project_root / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    result = subprocess.run(
        [*ANSIBLE_LOCAL, "-m", "bizra.infra.service_dropins",
         "-a", json.dumps(args), *flags],
        cwd=project_root, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_through_ansible_check_diff_then_apply(project_root, tmp_path):
    args = params(tmp_path, firewall_rules=[RULE])
    preview = run_module(project_root, tmp_path, args, "--check", "--diff")
    assert preview["changed"] is True and not (tmp_path / "firewall.d").exists()
    applied = run_module(project_root, tmp_path, args)
    assert applied["changed"] is True
    assert json.loads((tmp_path / "firewall.d" / "node_exporter.json").read_text())["rules"] == [RULE]
    assert run_module(project_root, tmp_path, args)["changed"] is False
    removed = run_module(project_root, tmp_path, params(tmp_path))
    assert removed["changed"] is True and not (tmp_path / "firewall.d" / "node_exporter.json").exists()


def test_unknown_selinux_key_is_refused(project_root, tmp_path):
    env = {**os.environ, "ANSIBLE_CONFIG": str(project_root / "ansible.cfg")}
    result = subprocess.run(
        [*ANSIBLE_LOCAL, "-m", "bizra.infra.service_dropins",
         "-a", json.dumps(params(tmp_path, selinux={"portz": []}))],
        cwd=project_root, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0 and "unknown: portz" in result.stdout
