"""The execution environment: its settings, names, mounts and runner arguments (no podman needed)."""

from __future__ import annotations

import configparser
import io
import json
import re
import shlex
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from bizractl import ee
from bizractl.errors import BadInputError
from bizractl.runspec import RunSpec, build_runner_kwargs

ROOT = Path(__file__).resolve().parents[3]


def test_image_settings_are_the_checkouts_without_its_paths():
    image = configparser.ConfigParser(interpolation=None)
    image.read_string(ee.ee_ansible_cfg(ROOT))
    checkout = configparser.ConfigParser(interpolation=None)
    checkout.read(ROOT / "ansible.cfg")
    assert not image.has_option("defaults", "collections_path")
    assert not image.has_option("defaults", "inventory")
    assert image.get("defaults", "fact_caching_connection") == "/runner/facts"
    # everything else is the checkout's, value for value
    for section in checkout.sections():
        for key, value in checkout.items(section):
            if key in ("collections_path", "inventory", "fact_caching_connection"):
                continue
            assert image.get(section, key) == value, (section, key)


@pytest.mark.parametrize(("playbook", "name"), [("site.yml", "bizra.infra.site"), ("base.yml", "bizra.infra.base")])
def test_checkout_playbooks_are_run_by_their_collection_name(playbook, name):
    assert ee.collection_playbook(ROOT, ROOT / "playbooks" / playbook) == name


def test_playbooks_outside_the_collection_are_refused(tmp_path):
    own = tmp_path / "mine.yml"
    own.write_text("- hosts: all\n")
    with pytest.raises(BadInputError, match=r"--ee runs the collection's own playbooks.*mine.yml"):
        ee.collection_playbook(ROOT, own)
    with pytest.raises(BadInputError, match="subdirectory"):
        ee.collection_playbook(ROOT, ROOT / "playbooks" / "incident" / "pg_failover.yml")


def test_mounts_keep_paths_leave_out_missing_ones_and_read_write_wins(tmp_path):
    shared, private, gone = tmp_path / "shared", tmp_path / "private", tmp_path / "gone"
    shared.mkdir()
    private.mkdir()
    mounts = ee.volume_mounts(read_write=[shared], read_only=[shared, private, gone])
    assert mounts == [f"{shared}:{shared}:rw", f"{private}:{private}:ro"]


def _tarball(path: Path, files: dict[str, str]) -> Path:
    manifest = {"files": [{"name": name, "ftype": "file", "chksum_sha256": digest} for name, digest in files.items()]}
    data = json.dumps(manifest).encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("FILES.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_the_image_tag_follows_the_collections_content_not_its_timestamps(tmp_path):
    one = ee.collection_files(_tarball(tmp_path / "a.tar.gz", {"roles/base/tasks/main.yml": "aa"}))
    same = ee.collection_files(_tarball(tmp_path / "b.tar.gz", {"roles/base/tasks/main.yml": "aa"}))
    edited = ee.collection_files(_tarball(tmp_path / "c.tar.gz", {"roles/base/tasks/main.yml": "ab"}))
    assert ee.image_ref(ROOT, one) == ee.image_ref(ROOT, same)
    assert ee.image_ref(ROOT, one) != ee.image_ref(ROOT, edited)
    assert re.fullmatch(r"localhost/bizra-ee:[\w.]+-[0-9a-f]{12}", ee.image_ref(ROOT, one))


def test_a_run_in_the_ee_names_its_inventory_and_playbook_and_drops_host_paths(tmp_path):
    inventory = ROOT / "inventories" / "lab"
    run = ee.EERun(image="localhost/bizra-ee:0.1.0-abc", playbook="bizra.infra.site",
                   mounts=(f"{inventory}:{inventory}:ro",), env=(("HOME", "/root"),))
    spec = RunSpec(project_root=ROOT, playbook=ROOT / "playbooks" / "site.yml", inventory=inventory,
                   run_dir=tmp_path / "run", check=True, diff=True, ee=run)
    kwargs = build_runner_kwargs(spec)
    assert kwargs["process_isolation"] is True
    assert kwargs["process_isolation_executable"] == "podman"
    assert kwargs["container_image"] == run.image
    assert kwargs["playbook"] == "bizra.infra.site"
    assert "--network=host" in kwargs["container_options"]
    assert kwargs["container_volume_mounts"] == list(run.mounts)
    assert "inventory" not in kwargs and "project_dir" not in kwargs
    assert shlex.split(kwargs["cmdline"])[:4] == ["-i", str(inventory), "--check", "--diff"]
    # the controller's PATH and the checkout's ansible.cfg mean nothing inside the image
    assert "PATH" not in kwargs["envvars"] and "ANSIBLE_CONFIG" not in kwargs["envvars"]
    assert "AWX_LIB_DIRECTORY" not in kwargs["envvars"], "the EE runs ansible-runner's own callback"
    assert kwargs["envvars"]["HOME"] == "/root"
    assert kwargs["envvars"]["ANSIBLE_HOST_KEY_CHECKING"] == "True"


def test_the_collection_declares_its_controller_python_for_any_ee():
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    declared = (ROOT / meta["dependencies"]["python"]).read_text()
    names = {re.split(r"[<>=]", line)[0] for line in declared.splitlines() if line and not line.startswith("#")}
    assert {"mitogen", "netaddr", "cryptography"} <= names
    # the same Mitogen range as the controller's
    mitogen = re.search(r'"(mitogen>=[^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert mitogen in declared.splitlines()


FQCN = re.compile(r"\b((?:ansible|community|kubernetes|amazon|cisco|containers)\.[a-z_0-9]+)\.[a-z_0-9]+\b")


def test_the_image_carries_every_collection_the_roles_use_in_the_controllers_versions(tmp_path):
    used = set()
    for top in ("roles", "playbooks", "plugins"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix in (".yml", ".yaml", ".py", ".j2"):
                used |= set(FQCN.findall(path.read_text(encoding="utf-8", errors="replace")))
    # ansible-core's own names (modules and the Python packages plugins import)
    used -= {"ansible.builtin", "ansible.legacy", "ansible.module_utils", "ansible.errors", "ansible.plugins"}
    carried = ee.community_collections(ROOT)
    assert used and used <= set(carried), sorted(used - set(carried))
    # packed as installable release artifacts: MANIFEST.json and FILES.json at the top
    (tmp_path / "definition").mkdir()
    own = tmp_path / "own.tar.gz"
    _tarball(own, {})
    ee.write_collections(tmp_path / "definition", own, {"ansible.posix": carried["ansible.posix"]})
    requirements = json.loads((tmp_path / "definition" / "requirements.yml").read_text())["collections"]
    assert [r["type"] for r in requirements] == ["file", "file"]
    packed = tmp_path / "definition" / "collections" / f"ansible-posix-{carried['ansible.posix'][0]}.tar.gz"
    with tarfile.open(packed) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "FILES.json" in names and not [n for n in names if "__pycache__" in n]


def test_bad_ee_requests_are_refused_before_anything_is_made(tmp_path):
    from bizractl import lifecycle
    from bizractl.settings import Settings

    settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs")}, project=str(ROOT))
    with pytest.raises(BadInputError, match="subdirectory"):  # refused before any image is built
        lifecycle.prepare(settings, lifecycle.RunRequest("incident/pg_failover", ee=True, validate=False))
    if shutil.which("podman"):
        with pytest.raises(BadInputError, match="--ee-image localhost/bizra-ee:no-such-tag: podman has no such image"):
            lifecycle.prepare(settings, lifecycle.RunRequest("site", ee_image="localhost/bizra-ee:no-such-tag",
                                                             validate=False))
    assert not (tmp_path / "runs").exists()
