"""The lab image: Debian with systemd and sshd, built once by debootstrap, cached by recipe.

The image tag carries a digest of the recipe (suite, package list, setup script), so an
unchanged recipe is never rebuilt and a changed one always is.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from bizractl.errors import LabError
from bizractl.lab.podman import Podman
from bizractl.paths import cache_home

RECIPE_DIR = Path(__file__).parent / "recipe"
IMAGE_REPOSITORY = "localhost/bizra-lab"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def read_list(path: Path) -> list[str]:
    """A list file of a recipe (packages, collections): one name per line, # comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def recipe_packages() -> list[str]:
    return read_list(RECIPE_DIR / "packages.txt")


def recipe_digest(suite: str) -> str:
    digest = hashlib.sha256(suite.encode())
    for name in ("packages.txt", "setup.sh"):
        digest.update((RECIPE_DIR / name).read_bytes())
    return digest.hexdigest()[:12]


def image_ref(suite: str) -> str:
    return f"{IMAGE_REPOSITORY}:{suite}-{recipe_digest(suite)}"


def _apt_root(suite: str) -> Path:
    return cache_home() / "apt-archives" / suite


def apt_archive_dir(suite: str, container: str) -> Path:
    """The /var/cache/apt/archives of one lab host, seeded from the suite's shared pool.

    apt locks its archives directory and does not wait for that lock, so lab hosts cannot
    share one directory. Each gets its own, filled with hard links to every .deb already in
    the pool; `harvest_apt_archives` links new downloads back. No host downloads a package
    the pool already has.
    """
    pool = _apt_root(suite) / "pool"
    host_dir = _apt_root(suite) / "hosts" / container
    (host_dir / "partial").mkdir(parents=True, exist_ok=True)
    pool.mkdir(parents=True, exist_ok=True)
    _link_missing(pool, host_dir)
    return host_dir


def harvest_apt_archives(suite: str, container: str, remove: bool = False) -> None:
    """Link the packages a lab host downloaded into the pool; optionally drop its directory."""
    host_dir = _apt_root(suite) / "hosts" / container
    if not host_dir.is_dir():
        return
    pool = _apt_root(suite) / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    _link_missing(host_dir, pool)
    if remove:
        shutil.rmtree(host_dir, ignore_errors=True)


def _link_missing(source: Path, target: Path) -> None:
    present = {p.name for p in target.glob("*.deb")}
    for deb in source.glob("*.deb"):
        if deb.name not in present:
            try:
                (target / deb.name).hardlink_to(deb)
            except OSError:
                shutil.copy2(deb, target / deb.name)


@contextlib.contextmanager
def build_lock(name: str):
    """Serialise a build step between processes: test scenarios run side by side and share the
    image and debootstrap caches (two debootstraps filling one cache corrupt each other's .debs)."""
    path = cache_home() / "build" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def debootstrap(suite: str, packages: list[str], rootfs: Path) -> None:
    deb_cache = cache_home() / "debootstrap" / suite
    deb_cache.mkdir(parents=True, exist_ok=True)
    with build_lock(f"debootstrap-{suite}"):
        run_step(["debootstrap", "--variant=minbase", f"--cache-dir={deb_cache}",
                  "--include=" + ",".join(packages), suite, str(rootfs), DEBIAN_MIRROR], "debootstrap")


def ensure_image(podman: Podman, suite: str, log: Callable[[str], None]) -> str:
    """Return the image for ``suite``, building it when the recipe has no image yet."""
    ref = image_ref(suite)
    if podman.image_exists(ref):
        return ref
    with build_lock(f"image-{suite}"):
        if podman.image_exists(ref):  # another process built it meanwhile
            return ref
        return _build_image(podman, suite, ref, log)


def _build_image(podman: Podman, suite: str, ref: str, log: Callable[[str], None]) -> str:
    log(f"building lab image {ref} (debootstrap {suite}, about a minute, once per recipe)")
    build_rootfs_image(podman, suite, ref, recipe_packages(), RECIPE_DIR / "setup.sh", init="/sbin/init")
    podman.remove_stale_images(IMAGE_REPOSITORY, suite, keep=ref)
    log(f"built {ref}")
    return ref


def build_rootfs_image(podman: Podman, suite: str, ref: str, packages: list[str], setup_script: Path,
                       init: str) -> None:
    """debootstrap ``suite`` with ``packages``, run ``setup_script`` in it (chroot), import it as ``ref``."""
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed: run `make setup` (it installs the lab's apt packages)")
    build_root = cache_home() / "build"
    build_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build_root) as tmp:
        rootfs = Path(tmp) / "rootfs"
        debootstrap(suite, packages, rootfs)
        shutil.copy(setup_script, rootfs / "tmp" / "setup.sh")
        run_step(["chroot", str(rootfs), "/bin/sh", "/tmp/setup.sh", suite], f"{setup_script.name} (image setup)")
        (rootfs / "tmp" / "setup.sh").unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            podman.import_image(tar.stdout, ref, cmd=init)
        finally:
            tar.wait()
        if tar.returncode != 0:
            raise LabError(f"packing the image {ref} failed (tar exit {tar.returncode})")


def run_step(argv: list[str], what: str, stdin: str | None = None) -> str:
    """Run one build or lab step; its output tail goes into the error when it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, input=stdin, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise LabError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout
