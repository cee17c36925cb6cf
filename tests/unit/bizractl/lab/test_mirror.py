"""The lab mirror packs a build like an upstream release, records its checksum and keeps it."""

import hashlib
import json
import os
import stat
import subprocess
import tarfile

import pytest

from bizractl.errors import LabError
from bizractl.lab import mirror
from bizractl.lab.mirror import Release

RELEASE = Release(name="geth", go_package="github.com/ethereum/go-ethereum/cmd/geth", version="1.17.10")


@pytest.fixture
def fake_go(tmp_path, monkeypatch):
    """A `go` that answers `mod download -json`, `env GOVERSION` and `install` (writing GOBIN/geth)."""
    script = tmp_path / "bin" / "go"
    script.parent.mkdir()
    script.write_text("""#!/bin/sh
case "$1" in
  mod) echo '{"Path": "github.com/ethereum/go-ethereum", "Version": "v1.17.10", "Sum": "h1:abc="}' ;;
  env) echo go1.26.8 ;;
  install) mkdir -p "$GOBIN" && printf '#!/bin/sh\\necho geth\\n' > "$GOBIN/geth" && echo "$@" > "$GOBIN/../args" ;;
esac
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("BIZRA_LAB_HOME", str(tmp_path / "lab"))
    return script


def test_a_build_is_packed_like_an_upstream_release_and_recorded(fake_go, tmp_path):
    logged = []
    record = mirror.build(RELEASE, logged.append)
    build_id = hashlib.sha256(b"h1:abc=").hexdigest()[:8]
    assert record["file"] == f"geth-linux-amd64-1.17.10-{build_id}.tar.gz" and record["build_id"] == build_id
    tarball = tmp_path / "lab" / "mirror" / "geth" / record["file"]
    assert record["sha256"] == hashlib.sha256(tarball.read_bytes()).hexdigest()
    with tarfile.open(tarball) as archive:
        members = {m.name: m for m in archive.getmembers()}
    top = f"geth-linux-amd64-1.17.10-{build_id}"
    assert set(members) == {f"{top}/geth", f"{top}/BUILD-INFO"}
    assert stat.S_IMODE(members[f"{top}/geth"].mode) == 0o755 and members[f"{top}/geth"].uname == "root"
    assert json.loads(mirror.record_path(RELEASE).read_text()) == record
    assert any("building geth 1.17.10" in line for line in logged)


def test_a_recorded_build_is_not_built_again(fake_go):
    first = mirror.build(RELEASE, lambda _: None)
    fake_go.write_text("#!/bin/sh\nexit 1\n")  # a rebuild would fail
    assert mirror.build(RELEASE, lambda _: None) == first


def test_a_failed_build_names_the_command(fake_go):
    fake_go.write_text("#!/bin/sh\necho 'cgo: gcc not found' >&2\nexit 2\n")
    with pytest.raises(LabError, match=r"go mod download github.com/ethereum/go-ethereum@v1.17.10 failed "
                                       r"\(exit 2\):\ncgo: gcc not found"):
        mirror.build(RELEASE, lambda _: None)


def test_each_release_is_signed_by_the_mirror_key_and_gpgv_verifies_it(fake_go, tmp_path):
    record = mirror.build(RELEASE, lambda _: None)
    signature = mirror.sign(record, lambda _: None)
    tarball = mirror.record_path_for(record)
    assert signature == tarball.with_name(tarball.name + ".asc")
    assert signature.read_text().startswith("-----BEGIN PGP SIGNATURE-----")
    key = mirror.signing_key_path()
    assert key.read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert not any(p.name == "mirror-gnupg" for p in mirror.mirror_dir().rglob("*")), "no private key is served"
    keyring = tmp_path / "keyring.gpg"
    subprocess.run(["gpg", "--batch", "--quiet", "--dearmor", "--output", str(keyring), str(key)], check=True)
    assert subprocess.run(["gpgv", "--keyring", str(keyring), str(signature), str(tarball)],
                          capture_output=True, check=False).returncode == 0
    again = signature.read_bytes()
    assert mirror.sign(record, lambda _: None).read_bytes() == again, "signed once"
    with tarball.open("ab") as handle:
        handle.write(b"tampered")
    assert subprocess.run(["gpgv", "--keyring", str(keyring), str(signature), str(tarball)],
                          capture_output=True, check=False).returncode != 0


def test_a_build_finished_by_another_process_meanwhile_is_not_built_again(fake_go, tmp_path, monkeypatch):
    """Two lab-ups side by side: the second waits for the build lock, then takes the first's build."""
    first = mirror.build(RELEASE, lambda _: None)
    record_file = mirror.record_path(RELEASE)
    saved = record_file.read_text()
    record_file.unlink()  # as seen before the lock: not built yet
    real_lock = mirror.image.build_lock

    def lock_released_after_the_other_build(name):
        record_file.write_text(saved)  # the other process finished while this one waited
        return real_lock(name)

    monkeypatch.setattr(mirror.image, "build_lock", lock_released_after_the_other_build)
    monkeypatch.setattr(mirror, "_build", lambda *_: pytest.fail("built a second time"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert mirror.build(RELEASE, lambda _: None) == first
