"""`ansible-galaxy collection build` ships the collection only, and the installed collection runs."""

import os
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
                   check=True, capture_output=True, cwd=ROOT)
    (built,) = out.glob("bizra-infra-*.tar.gz")
    return built


def test_tarball_holds_the_collection_and_nothing_else(tarball: Path):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    tops = {name.split("/")[0] for name in names}
    # Exactly the collection: no control plane, tests, stand-ins, caches or the checkout's ansible.cfg.
    assert tops == {"MANIFEST.json", "FILES.json", "README.md", "changelogs", "docs", "inventories", "meta",
                    "playbooks", "plugins", "roles"}
    assert "roles/base/tasks/main.yml" in names
    assert "playbooks/site.yml" in names


def test_installed_collection_runs_site_by_its_fqcn(tarball: Path, tmp_path: Path):
    collections = tmp_path / "collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(collections), str(tarball)],
                   check=True, capture_output=True, cwd=tmp_path)
    # An empty config away from the checkout: the checkout's .cache/collections link is not seen.
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
           # ours, then the ansible bundle's collections (community.general, ansible.posix)
           "ANSIBLE_COLLECTIONS_PATH": f"{collections}:{sysconfig.get_paths()['purelib']}"}
    listed = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "bizra.infra.site", "--list-tasks"],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "bizra.infra.base : Write chrony's, sshd's, journald's and sudo's configuration" in listed.stdout
