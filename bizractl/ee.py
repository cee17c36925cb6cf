"""The execution environment (EE): the collection, ansible-core, ansible-runner and every Python and
collection dependency in one podman image, for `bizractl deploy --ee` and for AWX / Automation
Platform.

Built in two layers, both cached by content:
- the base image (ee/base/): Debian by debootstrap, with Python, pip and an SSH client — no
  registry is needed (none is reachable from the lab machines);
- the EE (ee/execution-environment.yml, ansible-builder 3): the PyPI `ansible` bundle for the
  community collections, this collection from its own tarball (installed offline), and the
  collection's settings as /etc/ansible/ansible.cfg.
The EE's tag carries a digest of the collection's files (FILES.json of its tarball) and of ee/, so
a checkout that changed gets a new image and an unchanged one is never rebuilt.

A run in the EE sees only what it is given: the inventory, the vault password file and -e files
(read-only), the fact cache, the controller's state directory (~/.local/share/bizra: the internal
CA and the lab's key, read-write) and ~/.ssh (read-only), all at their own paths, and the host's
network (it reaches exactly what the controller reaches).
"""

from __future__ import annotations

import configparser
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bizractl.errors import BadInputError, LabError
from bizractl.lab import image as lab_image
from bizractl.lab.podman import Podman
from bizractl.paths import COLLECTION_NAME, COLLECTION_NAMESPACE, cache_home

EE_DIR = "ee"
SUITE = "bookworm"
BASE_REPOSITORY = "localhost/bizra-ee-base"
IMAGE_REPOSITORY = "localhost/bizra-ee"
# Settings of the checkout's ansible.cfg that do not apply inside the image: dropped, or replaced.
CHECKOUT_ONLY_SETTINGS = {"defaults": ("collections_path", "inventory")}
IMAGE_SETTINGS = {"defaults": {"fact_caching_connection": "/runner/facts"}}
# Where the controller keeps its state (the internal CA, the lab's SSH key): see roles/common.
STATE_DIR = Path("~/.local/share/bizra")
MACHINE_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

Log = Callable[[str], None]


def containers_conf(root: Path) -> Path:
    return (root / EE_DIR / "containers.conf").resolve()


def podman_env(root: Path) -> dict[str, str]:
    """podman (and ansible-builder's podman build) with this machine's runtime and ulimits."""
    return {**os.environ, "CONTAINERS_CONF": str(containers_conf(root))}


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:12]


def _dir_bytes(directory: Path) -> list[bytes]:
    return [p.relative_to(directory).as_posix().encode() + b"\0" + p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()]


def base_ref(root: Path) -> str:
    return f"{BASE_REPOSITORY}:{SUITE}-{_digest(*_dir_bytes(root / EE_DIR / 'base'))}"


def ensure_base(podman: Podman, root: Path, log: Log) -> str:
    ref = base_ref(root)
    if podman.image_exists(ref):
        return ref
    with lab_image.build_lock(f"ee-base-{SUITE}"):
        if podman.image_exists(ref):
            return ref
        log(f"building the EE base image {ref} (debootstrap {SUITE}, about a minute, once per recipe)")
        base = root / EE_DIR / "base"
        lab_image.build_rootfs_image(podman, SUITE, ref, lab_image.read_list(base / "packages.txt"),
                                     base / "setup.sh", init="/bin/bash")
        podman.remove_stale_images(BASE_REPOSITORY, SUITE, keep=ref)
    return ref


def build_collection(root: Path, output_dir: Path) -> Path:
    """The collection tarball, as `ansible-galaxy collection build` makes it (galaxy.yml's build_ignore)."""
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    proc = subprocess.run([str(galaxy), "collection", "build", "--force", "--output-path", str(output_dir),
                           str(root)], capture_output=True, text=True, check=False)
    tarballs = sorted(output_dir.glob(f"{COLLECTION_NAMESPACE}-{COLLECTION_NAME}-*.tar.gz"))
    if proc.returncode != 0 or not tarballs:
        raise LabError(f"ansible-galaxy collection build failed (exit {proc.returncode}):\n"
                       f"{(proc.stdout + proc.stderr).strip()[-2000:]}")
    return tarballs[-1]


def collection_files(tarball: Path) -> bytes:
    """FILES.json of the tarball: every file's name and sha256, independent of timestamps."""
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("FILES.json")
        if member is None:
            raise LabError(f"{tarball} has no FILES.json")
        files = json.load(member)["files"]
    return json.dumps([(f["name"], f.get("chksum_sha256")) for f in files], sort_keys=True).encode()


def community_collections(root: Path) -> dict[str, tuple[str, Path]]:
    """The collections of ee/collections.txt as the controller has them: name -> (version, directory)."""
    import ansible_collections

    names = lab_image.read_list(root / EE_DIR / "collections.txt")
    found = {}
    for name in names:
        namespace, collection = name.split(".")
        for base in ansible_collections.__path__:
            manifest = Path(base) / namespace / collection / "MANIFEST.json"
            if manifest.is_file():
                found[name] = (json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"],
                               manifest.parent)
                break
        else:
            raise LabError(f"collection {name} (ee/collections.txt) is not installed beside ansible-core here: "
                           "run `make setup`")
    return found


def write_collections(definition: Path, own_tarball: Path, community: dict[str, tuple[str, Path]]) -> None:
    """collections/ with every tarball, and requirements.yml naming them (the galaxy stage's input)."""
    target = definition / "collections"
    target.mkdir()
    files = [f"{COLLECTION_NAMESPACE}-{COLLECTION_NAME}.tar.gz"]
    shutil.copy(own_tarball, target / files[0])
    for name, (version, directory) in sorted(community.items()):
        filename = f"{name.replace('.', '-')}-{version}.tar.gz"
        _pack_installed(directory, target / filename)
        files.append(filename)
    requirements = {"collections": [{"name": f"/build/collections/{f}", "type": "file"} for f in files]}
    (definition / "requirements.yml").write_text(json.dumps(requirements, indent=2) + "\n", encoding="utf-8")


def _pack_installed(directory: Path, tarball: Path) -> None:
    """An installed collection as an installable artifact. The PyPI bundle leaves out files its
    FILES.json lists (CI configuration, tests), so FILES.json is narrowed to what is there (every
    kept file keeps its checksum, which ansible-galaxy verifies) and MANIFEST.json names the new
    FILES.json's checksum."""
    manifest = json.loads((directory / "MANIFEST.json").read_text(encoding="utf-8"))
    listing = json.loads((directory / "FILES.json").read_text(encoding="utf-8"))
    listing["files"] = [entry for entry in listing["files"]
                        if entry["name"] == "." or (directory / entry["name"]).exists()]
    files_json = json.dumps(listing, indent=4).encode()
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json).hexdigest()
    manifest_json = json.dumps(manifest, indent=4).encode()

    def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(tarball, "w:gz") as tar:
        add_bytes(tar, "MANIFEST.json", manifest_json)
        add_bytes(tar, "FILES.json", files_json)
        for entry in listing["files"]:
            if entry["name"] != ".":
                tar.add(directory / entry["name"], arcname=entry["name"], recursive=False)


def ee_ansible_cfg(root: Path) -> str:
    """The checkout's ansible.cfg without what only makes sense in a checkout."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(root / "ansible.cfg", encoding="utf-8")
    for section, keys in CHECKOUT_ONLY_SETTINGS.items():
        for key in keys:
            config.remove_option(section, key)
    for section, values in IMAGE_SETTINGS.items():
        for key, value in values.items():
            config.set(section, key, value)
    out = io.StringIO()
    out.write("# The bizra.infra execution environment's settings: the collection's ansible.cfg without\n"
              "# the checkout's collections_path and inventory (bizractl ee build writes this file).\n")
    config.write(out)
    return out.getvalue()


def image_ref(root: Path, collection_digest: bytes) -> str:
    from bizractl import __version__

    parts = [collection_digest, *_dir_bytes(root / EE_DIR), ee_ansible_cfg(root).encode()]
    return f"{IMAGE_REPOSITORY}:{__version__}-{_digest(*parts)}"


def ensure_image(root: Path, log: Log, podman: Podman | None = None, rebuild: bool = False) -> str:
    """The EE image of this checkout: built when missing (or when asked), else reused."""
    from bizractl import __version__

    podman = podman or Podman()
    work = cache_home() / "build"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix="ee-") as tmp:
        context = Path(tmp)
        tarball = build_collection(root, context / "dist")
        community = community_collections(root)
        ref = image_ref(root, collection_files(tarball) + json.dumps(
            {name: version for name, (version, _path) in sorted(community.items())}).encode())
        if podman.image_exists(ref) and not rebuild:
            return ref
        with lab_image.build_lock("ee"):
            if podman.image_exists(ref) and not rebuild:
                return ref
            base = ensure_base(podman, root, log)
            log(f"building the execution environment {ref} (ansible-builder, a few minutes)")
            definition = context / "definition"
            shutil.copytree(root / EE_DIR, definition, ignore=shutil.ignore_patterns("base"))
            write_collections(definition, tarball, community)
            (definition / "ansible.cfg").write_text(ee_ansible_cfg(root), encoding="utf-8")
            builder = Path(sys.executable).parent / "ansible-builder"
            argv = [str(builder), "build", "--file", str(definition / "execution-environment.yml"),
                    "--context", str(context / "context"), "--container-runtime", "podman",
                    "--tag", ref, "--build-arg", f"EE_BASE_IMAGE={base}", "--verbosity", "2"]
            # No intermediate images left behind (each build would leave about 1.3 GB of stages).
            build_cli = ["--layers=false"]
            if MACHINE_CA_BUNDLE.is_file():
                # pip inside the build trusts what this machine trusts (an egress proxy's CA, say),
                # for the build only: the bundle is mounted into the build steps, not copied.
                build_cli.append(f"--volume={MACHINE_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro")
            argv += ["--extra-build-cli-args", " ".join(build_cli)]
            proc = subprocess.run(argv, capture_output=True, text=True, env=podman_env(root), check=False)
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
                raise LabError(f"ansible-builder build failed (exit {proc.returncode}):\n{tail}")
            podman.remove_stale_images(IMAGE_REPOSITORY, __version__, keep=ref)
            log(f"built {ref}")
    return ref


def collection_playbook(root: Path, playbook: Path) -> str:
    """The name of a checkout playbook inside the image (bizra.infra.site), or bad input."""
    playbooks = root / "playbooks"
    try:
        relative = playbook.resolve().relative_to(playbooks)
    except ValueError:
        raise BadInputError(f"--ee runs the collection's own playbooks (under {playbooks}); "
                            f"{playbook} is not one of them: run it without --ee") from None
    if len(relative.parts) != 1:
        raise BadInputError(f"--ee runs the collection's top-level playbooks; {relative} is in a "
                            "subdirectory, which ansible-core does not address by name: run it without --ee")
    return f"{COLLECTION_NAMESPACE}.{COLLECTION_NAME}.{playbook.stem}"


@dataclass(frozen=True)
class EERun:
    """How one run goes through the EE (lifecycle.prepare decides, runspec applies it)."""

    image: str
    playbook: str
    mounts: tuple[str, ...]
    env: tuple[tuple[str, str], ...]


def plan_run(root: Path, image: str, playbook: Path, inventory: Path, fact_cache: Path, lab_home: Path,
             read_only: tuple[Path, ...]) -> EERun:
    """The image, the playbook's name in it, what is mounted and the environment of one EE run."""
    home = Path.home()
    state = STATE_DIR.expanduser()
    fact_cache.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    inventory_dir = inventory if inventory.is_dir() else inventory.parent
    mounts = volume_mounts(read_write=[fact_cache, state, lab_home],
                           read_only=[inventory_dir, home / ".ssh", *read_only])
    env = {
        # Paths the inventory and the roles derive from $HOME (the CA, the lab's key) are the
        # controller's, mounted at the same place.
        "HOME": str(home),
        "BIZRA_LAB_HOME": str(lab_home),
        # ansible-runner sets it for podman; a run in the EE writes files as a direct run does.
        "ANSIBLE_UNSAFE_WRITES": "False",
        "CONTAINERS_CONF": str(containers_conf(root)),
    }
    return EERun(image=image, playbook=collection_playbook(root, playbook), mounts=tuple(mounts),
                 env=tuple(sorted(env.items())))


def volume_mounts(read_write: list[Path], read_only: list[Path]) -> list[str]:
    """podman volumes, each path at its own path; missing ones are left out, the first mention wins."""
    mounts: list[str] = []
    seen: set[Path] = set()
    for mode, paths in (("rw", read_write), ("ro", read_only)):
        for path in paths:
            path = path.expanduser().resolve()
            if path in seen or not path.exists():
                continue
            seen.add(path)
            mounts.append(f"{path}:{path}:{mode}")
    return mounts


def runner_kwargs(kwargs: dict, run: EERun) -> dict:
    """ansible-runner's arguments for a direct run, turned into the same run inside the EE."""
    envvars = {k: v for k, v in kwargs["envvars"].items() if k not in ("PATH", "ANSIBLE_CONFIG", "AWX_LIB_DIRECTORY")}
    envvars.update(dict(run.env))
    # ansible-runner would look for the inventory under /runner: it is named on the command line,
    # at its own (mounted) path.
    cmdline = shlex.join(["-i", kwargs["inventory"]]) + " " + kwargs.get("cmdline", "")
    changed = {**kwargs, "envvars": envvars, "playbook": run.playbook, "cmdline": cmdline.strip(),
               "process_isolation": True, "process_isolation_executable": "podman",
               "container_image": run.image, "container_volume_mounts": list(run.mounts),
               # The controller's network (the hosts it reaches), as root (the mounted keys are 0600).
               "container_options": ["--network=host", "--user=0:0"]}
    changed.pop("project_dir", None)
    changed.pop("inventory", None)
    return changed
