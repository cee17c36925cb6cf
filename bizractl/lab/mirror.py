"""The lab's artifact mirror: release tarballs that lab hosts download the way production hosts do.

Production installs geth from an official release tarball (upstream or the operator's artifact
mirror), checked against a sha256 from the inventory. The lab cannot reach upstream's downloads,
but this machine has Go and the Go module proxy. So the mirror builds each release the lab
inventory pins (``lab_mirror_releases``) once from its Go module (``go install <package>@v<version>``),
packs it the way upstream does (``<name>-linux-amd64-<version>-<id>.tar.gz`` holding
``<name>-linux-amd64-<version>-<id>/<name>``), and serves ``<lab home>/mirror`` over HTTP on port
8089 of the machine, which each lab network reaches at its gateway address.

Next to each tarball, ``<name>-<version>.json`` records its file name, sha256 and build id; the
lab inventories read the checksum from it (production inventories write theirs in). The Go proxy
carries no VCS data, so where an upstream file name has the release commit's 8 hex digits, a
lab build has the first 8 of the sha256 of the module's go.sum hash: stable for a version,
and visibly not a commit of go-ethereum.

Each tarball is signed (``<file>.asc``, detached and armored, as upstream publishes its
signatures) by the mirror's own key, made once; its public key is ``lab-signing-key.asc`` in the
mirror, which lab inventories give the roles' signature check. The private key lives beside the
served directory, never in it.

A release with ``maven`` instead of ``go_package`` is a Java distribution assembled from Maven
Central (``MAVEN_BUILDS``): OpenSearch, which the lab runs where production runs Elasticsearch (Elastic's
packages cannot be had here). Its jars are the published ones, laid out as upstream's tarball lays them
out (``lib/``, ``modules/transport-netty4/``, ``config/``) and started by OpenSearch's own bootstrap;
only ``bin/opensearch`` is written here (upstream's runs launcher tools Maven Central does not carry),
with the same interface, and ``lab/LabOpenSearch`` (``recipe/opensearch``), which starts a node that
joins others without the bootstrap checks where the machine's open-files limit is below what they
demand. Its BUILD-INFO says so.

A build is kept until the pinned version changes; the server keeps running between labs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bizractl.errors import LabError
from bizractl.lab import image
from bizractl.paths import lab_home

PORT = 8089
BUILD_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class Release:
    """One release the mirror carries: built from ``go_package`` at ``v<version>``, or assembled
    from Maven Central (``maven``: a key of MAVEN_BUILDS)."""

    name: str
    version: str
    go_package: str = ""
    maven: str = ""

    @property
    def go_module(self) -> str:
        # github.com/ethereum/go-ethereum/cmd/geth -> github.com/ethereum/go-ethereum
        return "/".join(self.go_package.split("/")[:3])


def mirror_dir() -> Path:
    return lab_home() / "mirror"


def record_path(release: Release) -> Path:
    return mirror_dir() / release.name / f"{release.name}-{release.version}.json"


def _go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if not found:
        raise LabError("the lab mirror builds its releases with Go (>= 1.23), and no `go` is on PATH "
                       "or in /usr/local/go/bin: install Go (https://go.dev/dl/) and run again")
    return found


def _lowest_priority() -> None:
    # A Go build takes every core for minutes: at nice 19 it yields them to the lab VMs (under
    # software emulation, a starved guest's reboot once ran past its 30-minute timeout beside a
    # geth build) and to the tests.
    os.nice(19)


def _run(argv: list[str], env: dict[str, str], cwd: Path, what: str) -> str:
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_SECONDS, check=False, preexec_fn=_lowest_priority)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what}: no result after {BUILD_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise LabError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _built(release: Release) -> dict | None:
    record_file = record_path(release)
    if record_file.is_file():
        record = json.loads(record_file.read_text(encoding="utf-8"))
        if (record_file.parent / record["file"]).is_file():
            return record
    return None


def build(release: Release, log) -> dict:
    """Build, pack and record one release; returns its record. Kept until the version changes.

    One build per release at a time: test stages run side by side, and two builds of one
    version would each write a tarball (their sha256 differ) and a record, in any order."""
    record = _built(release)
    if record:
        return record
    with image.build_lock(f"mirror-{release.name}-{release.version}"):
        return _built(release) or _build(release, log)


def _build(release: Release, log) -> dict:
    if release.maven:
        return _build_maven(release, log)
    record_file = record_path(release)
    go = _go()
    log(f"lab mirror: building {release.name} {release.version} from {release.go_package}@v{release.version} "
        "(once; several minutes on 2 cores)")
    env = {**os.environ, "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "1"}
    with tempfile.TemporaryDirectory(prefix=f"bizra-mirror-{release.name}-") as work:
        work_dir = Path(work)
        module = json.loads(_run([go, "mod", "download", "-json", f"{release.go_module}@v{release.version}"],
                                 env, work_dir, f"go mod download {release.go_module}@v{release.version}"))
        build_id = hashlib.sha256(module["Sum"].encode()).hexdigest()[:8]
        _run([go, "install", "-trimpath", f"{release.go_package}@v{release.version}"],
             {**env, "GOBIN": str(work_dir / "bin")}, work_dir, f"go install {release.go_package}@v{release.version}")
        go_version = _run([go, "env", "GOVERSION"], env, work_dir, "go env GOVERSION").strip()
        top = f"{release.name}-linux-amd64-{release.version}-{build_id}"
        tarball = record_file.parent / f"{top}.tar.gz"
        tarball.parent.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_name(tarball.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(work_dir / "bin" / release.name, arcname=f"{top}/{release.name}", filter=_release_member)
            note = (f"{release.name} {release.version} built for the bizra lab from {release.go_package}"
                    f"@v{release.version} with {go_version}; not an upstream release.\n").encode()
            info = tarfile.TarInfo(f"{top}/BUILD-INFO")
            info.size, info.mode = len(note), 0o644
            archive.addfile(info, io.BytesIO(note))
    partial.replace(tarball)
    record = {"name": release.name, "version": release.version, "build_id": build_id, "file": tarball.name,
              "sha256": hashlib.sha256(tarball.read_bytes()).hexdigest(), "go_package": release.go_package,
              "go_version": go_version}
    (tarball.parent / f"{tarball.name}.sha256").write_text(f"{record['sha256']}  {tarball.name}\n", encoding="utf-8")
    record_file.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    log(f"lab mirror: {tarball.name} sha256 {record['sha256']}")
    return record


# OpenSearch as upstream's tarball lays it out: core jars in lib/, the HTTP and transport layer as the
# transport-netty4 module with its descriptor and security policy (upstream's module metadata).
MAVEN_BUILDS = {
    "opensearch": {
        # log4j-core is not a dependency of the core jar; upstream ships it at log4j-api's version.
        "lib": ["org.opensearch:opensearch", "org.opensearch:opensearch-plugin-classloader",
                "org.apache.logging.log4j:log4j-core:@log4j-api"],
        "modules": {"transport-netty4": ["org.opensearch.plugin:transport-netty4-client"]},
    },
}
_MODULE_DESCRIPTOR = """\
description=Netty 4 based transport implementation
version={version}
name=transport-netty4
classname=org.opensearch.transport.Netty4Plugin
java.version=11
opensearch.version={version}
extended.plugins=
has.native.controller=false
"""
_MODULE_POLICY = """\
grant {
  permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
  permission java.net.SocketPermission "*", "accept,connect";
  permission java.lang.RuntimePermission "*", "setContextClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
"""
_LAUNCHER = """\
#!/bin/sh
# bin/opensearch of the bizra lab build. Upstream's runs its Java launcher tools, which Maven
# Central does not carry; this one has the same interface: OPENSEARCH_PATH_CONF,
# OPENSEARCH_JAVA_HOME (else JAVA_HOME, else /usr), config/jvm.options and jvm.options.d/*.options
# (plain options, one a line), OPENSEARCH_JAVA_OPTS, and the arguments passed on.
set -eu
home=$(cd "$(dirname "$0")/.." && pwd)
conf=${OPENSEARCH_PATH_CONF:-$home/config}
java=${OPENSEARCH_JAVA_HOME:-${JAVA_HOME:-/usr}}/bin/java
options=$(cat "$conf/jvm.options" "$conf"/jvm.options.d/*.options 2>/dev/null \\
  | grep -v '^[[:space:]]*\\(#\\|$\\)' || true)
main=org.opensearch.bootstrap.OpenSearch
classpath="$home/lib/*"
# A node that joins others must pass the bootstrap checks, which demand a hard limit of 65535 open
# files; lab containers get at most the machine's (20000 here). Such a node starts through
# lab/LabOpenSearch (OpenSearch's Node without the bootstrap), and says so.
files=$(ulimit -Hn)
if ! grep -q '^discovery.type: *single-node' "$conf/opensearch.yml" 2>/dev/null \\
   && [ "$files" != unlimited ] && [ "$files" -lt 65535 ]; then
  echo "bizra lab build: hard limit of open files $files < 65535, which OpenSearch's bootstrap checks" \\
       "demand of a cluster node: starting its Node without the bootstrap (checks, security manager, natives)" >&2
  main=org.bizra.lab.LabOpenSearch
  classpath="$classpath:$home/lab/*"
fi
# shellcheck disable=SC2086  # one option a word
exec "$java" $options ${OPENSEARCH_JAVA_OPTS:-} -Dopensearch.path.home="$home" -Dopensearch.path.conf="$conf" \\
  -Dopensearch.distribution.type=tar -Dopensearch.bundled_jdk=false -cp "$classpath" "$main" "$@"
"""
_DEFAULT_CONFIG = {
    "opensearch.yml": "# Written by the deployment (the bizra.infra elasticsearch role).\n",
    "jvm.options": "-Xms1g\n-Xmx1g\n",
    "log4j2.properties": ("status = error\nappender.console.type = Console\nappender.console.name = console\n"
                          "appender.console.layout.type = PatternLayout\n"
                          "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%c{1.}] [%node_name] %m%n\n"
                          "rootLogger.level = info\nrootLogger.appenderRef.console.ref = console\n"),
}


def _mvn() -> str:
    found = shutil.which("mvn")
    if not found:
        raise LabError("the lab mirror assembles Java distributions with Maven, and no `mvn` is on PATH: "
                       "run `make setup` (apt package maven)")
    return found


def _build_maven(release: Release, log) -> dict:
    """Fetch the distribution's jars from Maven Central (``mvn dependency:copy-dependencies``) and
    pack them as upstream's ``<name>-<version>-linux-x64.tar.gz``."""
    record_file = record_path(release)
    layout = MAVEN_BUILDS[release.maven]
    mvn = _mvn()
    log(f"lab mirror: assembling {release.name} {release.version} from Maven Central (once)")

    def fetch(coordinates: list[str], into: Path, work_dir: Path) -> list[str]:
        deps = "".join(
            f"<dependency><groupId>{c.split(':')[0]}</groupId><artifactId>{c.split(':')[1]}</artifactId>"
            f"<version>{c.split(':')[2] if c.count(':') == 2 else release.version}</version></dependency>"
            for c in coordinates)
        (work_dir / "pom.xml").write_text(
            '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            f"<groupId>lab.bizra</groupId><artifactId>{release.name}-{into.name}</artifactId><version>1</version>"
            f"<dependencies>{deps}</dependencies></project>\n", encoding="utf-8")
        _run([mvn, "-B", "-q", "dependency:copy-dependencies", f"-DoutputDirectory={into}"], dict(os.environ),
             work_dir, f"mvn dependency:copy-dependencies for {release.name} {release.version}")
        return sorted(path.name for path in into.glob("*.jar"))

    top = f"{release.name}-{release.version}"
    with tempfile.TemporaryDirectory(prefix=f"bizra-mirror-{release.name}-") as work:
        work_dir, root = Path(work), Path(work) / top
        # A version "@<jar>" is the version of that jar among the others' dependencies.
        lib = fetch([c for c in layout["lib"] if ":@" not in c], root / "lib", work_dir)
        matched = []
        for coordinates in (c for c in layout["lib"] if ":@" in c):
            group, artifact, like = coordinates.split(":")
            source = like.removeprefix("@")
            versions = [jar[len(source) + 1:-len(".jar")] for jar in lib if jar.startswith(source + "-")]
            if len(versions) != 1:
                raise LabError(f"lab mirror: {artifact} takes the version of {source}, and {release.name} "
                               f"{release.version} brings {len(versions)} of it")
            matched.append(f"{group}:{artifact}:{versions[0]}")
        if matched:
            lib = fetch(matched, root / "lib", work_dir)
        for module, coordinates in layout["modules"].items():
            module_dir = root / "modules" / module
            # The module brings its own dependencies; those already in lib/ stay there only (jar hell).
            for jar in fetch(coordinates, module_dir, work_dir):
                if jar in lib:
                    (module_dir / jar).unlink()
            (module_dir / "plugin-descriptor.properties").write_text(
                _MODULE_DESCRIPTOR.format(version=release.version), encoding="utf-8")
            (module_dir / "plugin-security.policy").write_text(_MODULE_POLICY, encoding="utf-8")
        for directory in ("bin", "config", "plugins", "logs"):
            (root / directory).mkdir(exist_ok=True)
        (root / "bin" / release.name).write_text(_LAUNCHER, encoding="utf-8")
        _compile_lab_main(root, work_dir)
        for name, text in _DEFAULT_CONFIG.items():
            (root / "config" / name).write_text(text, encoding="utf-8")
        (root / "BUILD-INFO").write_text(
            f"{release.name} {release.version} assembled for the bizra lab from Maven Central's jars "
            f"({', '.join(layout['lib'])}; modules {', '.join(layout['modules'])}); bin/{release.name} and "
            "lab/bizra-lab-opensearch.jar written by bizractl's lab mirror (a node that joins others starts "
            "without OpenSearch's bootstrap checks where the open-files limit is below 65535: see bin/"
            f"{release.name}); no bundled JDK. Not an upstream release.\n", encoding="utf-8")
        tarball = record_file.parent / f"{top}-linux-x64.tar.gz"
        tarball.parent.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_name(tarball.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(root, arcname=top, filter=_distribution_member)
    partial.replace(tarball)
    record = {"name": release.name, "version": release.version, "build_id": "maven", "file": tarball.name,
              "sha256": hashlib.sha256(tarball.read_bytes()).hexdigest(), "maven": release.maven}
    (tarball.parent / f"{tarball.name}.sha256").write_text(f"{record['sha256']}  {tarball.name}\n", encoding="utf-8")
    record_file.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    log(f"lab mirror: {tarball.name} sha256 {record['sha256']}")
    return record


LAB_MAIN_SOURCE = Path(__file__).parent / "recipe" / "opensearch" / "LabOpenSearch.java"


def _compile_lab_main(root: Path, work_dir: Path) -> None:
    """lab/bizra-lab-opensearch.jar: LabOpenSearch (see its comment) compiled against lib/."""
    javac = shutil.which("javac")
    if not javac:
        raise LabError("the lab mirror compiles its OpenSearch starter with javac, and none is on PATH: "
                       "run `make setup` (apt package openjdk-17-jdk-headless)")
    classes = work_dir / "classes"
    _run([javac, "--release", "17", "-d", str(classes), "-cp", str(root / "lib" / "*"), str(LAB_MAIN_SOURCE)],
         dict(os.environ), work_dir, "javac LabOpenSearch.java")
    (root / "lab").mkdir()
    with zipfile.ZipFile(root / "lab" / "bizra-lab-opensearch.jar", "w", zipfile.ZIP_DEFLATED) as jar:
        for path in sorted(classes.rglob("*.class")):
            jar.write(path, path.relative_to(classes).as_posix())


def _distribution_member(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.uid = member.gid = 0
    member.uname = member.gname = "root"
    member.mtime = 0
    member.mode = 0o755 if member.isdir() or "/bin/" in member.name else 0o644
    return member


def _release_member(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.uid = member.gid = 0
    member.uname = member.gname = "root"
    member.mode = 0o755
    return member


def _pid_file() -> Path:
    return lab_home() / "mirror.pid"


def _serving(timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=timeout):
            return True
    except OSError:
        return False


def serve(log) -> None:
    """Start the HTTP server on the mirror directory unless it answers already."""
    if _serving():
        return
    directory = mirror_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log_file = lab_home() / "mirror.log"
    # Detached and with its own files, so a caller that waits for our output (Molecule's
    # command task) does not wait for the server too.
    with open(log_file, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "0.0.0.0", "--directory", str(directory), str(PORT)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    _pid_file().write_text(f"{process.pid}\n", encoding="utf-8")
    for _ in range(50):
        if _serving(timeout=0.2):
            log(f"lab mirror: serving {directory} on port {PORT} (pid {process.pid})")
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise LabError(f"the lab mirror did not start on port {PORT}: see {log_file}")


def stop() -> bool:
    """Stop the server this machine started; True when one was running."""
    pid_file = _pid_file()
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text(encoding="utf-8").strip() or 0)
    pid_file.unlink()
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if b"http.server" not in cmdline:
        return False
    os.kill(pid, signal.SIGTERM)
    return True


def signing_key_path() -> Path:
    """The lab mirror's public signing key (armored), what lab inventories give the roles."""
    return mirror_dir() / "lab-signing-key.asc"


def _gpg(argv: list[str], what: str, stdin: str | None = None) -> str:
    gpg = shutil.which("gpg")
    if gpg is None:
        raise LabError("gpg is not installed: run `make setup` (the lab mirror signs its releases with it)")
    home = mirror_dir().parent / "mirror-gnupg"  # beside the served directory, never in it
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    done = subprocess.run([gpg, "--homedir", str(home), "--batch", "--quiet", *argv], input=stdin,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout


def sign(record: dict, log) -> Path:
    """A detached armored signature next to the tarball (``<file>.asc``, as upstream publishes),
    by the lab mirror's own key, made once; its public key in ``lab-signing-key.asc``."""
    key = signing_key_path()
    if not key.is_file():
        _gpg(["--passphrase", "", "--quick-gen-key", "bizra lab mirror <mirror@lab.bizra.invalid>", "ed25519",
              "sign", "never"], "gpg --quick-gen-key (the lab mirror's signing key)")
        key.write_text(_gpg(["--armor", "--export"], "gpg --export"), encoding="utf-8")
        log(f"lab mirror: signing key {key}")
    tarball = record_path_for(record)
    signature = tarball.with_name(tarball.name + ".asc")
    if not signature.is_file() or signature.stat().st_mtime < tarball.stat().st_mtime:
        _gpg(["--yes", "--armor", "--detach-sign", "--output", str(signature), str(tarball)],
             f"gpg --detach-sign {tarball.name}")
    return signature


def record_path_for(record: dict) -> Path:
    return mirror_dir() / record["name"] / record["file"]


def ensure(releases: tuple[Release, ...], log) -> list[dict]:
    """Every pinned release built and signed, and the server up."""
    records = [build(release, log) for release in releases]
    # One signer at a time: two lab-ups side by side would each make a signing key on a new machine.
    with image.build_lock("mirror-signing"):
        for record in records:
            sign(record, log)
    serve(log)
    return records
