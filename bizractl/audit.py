"""The audit trail: one record per deploy, plan and incident run, in an append-only, hash-chained log.

Each record is one JSON line holding who ran what, where, against which inventory (and its
digest), with which collection commit, the names (never the values) of the ``-e`` variables, the
result, per-host counts and the changed tasks; plus ``seq`` (1, 2, ...), ``prev`` (the previous
record's hash) and ``hash`` (sha256 of the record without its hash, keys sorted). Editing a
record breaks its hash, removing or reordering records breaks the chain: ``verify`` names the
first record where that happens. Appends take an exclusive lock, so parallel runs cannot
interleave. The log lives beside the run directories (``<runs dir>/audit.log``, 0600) and is
never pruned with them. With BIZRA_AUDIT_SYSLOG each record is also sent to syslog (local, or a
collector over UDP/TCP: the logging stack), as one JSON line, facility authpriv.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import socket
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

GENESIS = "0" * 64
SYSLOG_IDENT = "bizractl-audit"
LOG_NAME = "audit.log"


def log_path(runs_dir: Path) -> Path:
    return runs_dir / LOG_NAME


def record_hash(record: dict) -> str:
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def inventory_digest(inventory: Path) -> str:
    """sha256 over the inventory's files (names and contents, in order): which inventory ran."""
    digest = hashlib.sha256()
    files = sorted(p for p in inventory.rglob("*") if p.is_file()) if inventory.is_dir() else [inventory]
    for path in files:
        digest.update(str(path.relative_to(inventory) if inventory.is_dir() else path.name).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def collection_commit(project_root: Path) -> str:
    try:
        done = subprocess.run(["git", "-C", str(project_root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    commit = done.stdout.strip()
    if done.returncode != 0 or not commit:
        return "unknown"
    dirty = subprocess.run(["git", "-C", str(project_root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    return commit + ("+changes" if dirty else "")


def append(path: Path, entry: dict) -> dict:
    """Add one record (seq, prev and hash filled in) under an exclusive lock; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        last = None
        for line in handle:
            if line.strip():
                last = line
        previous = json.loads(last) if last else None
        record = {"seq": previous["seq"] + 1 if previous else 1, "prev": previous["hash"] if previous else GENESIS,
                  **entry}
        record["hash"] = record_hash(record)
        handle.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)
    return record


def entry_for(*, run_id: str, verb: str, playbook: Path, inventory: Path, project_root: Path, version: str,
              limit: str | None, tags: str | None, skip_tags: str | None, extra_var_names: tuple[str, ...],
              exit_code: int, result: str, hosts: dict, changes: list[dict],
              execution_environment: str | None = None, now: datetime | None = None) -> dict:
    return {
        "time": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user": getpass.getuser(),
        "controller": socket.gethostname(),
        "run_id": run_id,
        "verb": verb,
        "playbook": str(playbook.relative_to(project_root / "playbooks")) if playbook.is_relative_to(
            project_root / "playbooks") else str(playbook),
        "inventory": str(inventory),
        "inventory_sha256": inventory_digest(inventory),
        "bizractl_version": version,
        "collection_commit": collection_commit(project_root),
        # The image the run went through (its tag carries the collection's content digest), or None.
        "execution_environment": execution_environment,
        "limit": limit,
        "tags": tags,
        "skip_tags": skip_tags,
        "extra_vars": list(extra_var_names),
        "exit_code": exit_code,
        "result": result,
        "hosts": hosts,
        "changed_tasks": changes,
    }


def read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


def verify(path: Path) -> tuple[int, Problem | None]:
    """(records checked, the first problem or None)."""
    if not path.is_file():
        return 0, None
    previous_hash, expected_seq, count = GENESIS, 1, 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return count, Problem(number, f"line {number} is not a record (not JSON): the log was edited")
        count += 1
        name = f"record {record.get('seq', '?')} (line {number}, run {record.get('run_id', '?')})"
        if record.get("hash") != record_hash(record):
            return count, Problem(number, f"{name} was edited: its content does not match its hash")
        if record.get("seq") != expected_seq or record.get("prev") != previous_hash:
            return count, Problem(number, f"{name} does not follow record {expected_seq - 1}: "
                                          "a record before it was removed, or records were reordered")
        previous_hash, expected_seq = record["hash"], expected_seq + 1
    return count, None


def parse_syslog_target(text: str) -> tuple[str | tuple[str, int], int]:
    """`local`, `udp://HOST:PORT` or `tcp://HOST:PORT` -> (address, socket type); ValueError otherwise."""
    if text == "local":
        return "/dev/log", socket.SOCK_DGRAM
    scheme, sep, rest = text.partition("://")
    host, colon, port = rest.rpartition(":")
    if not sep or scheme not in ("udp", "tcp") or not colon or not host or not port.isdigit() \
            or not 0 < int(port) < 65536:
        raise ValueError("expected local, udp://HOST:PORT or tcp://HOST:PORT")
    return (host.strip("[]"), int(port)), socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM


def forward(record: dict, target: str, timeout: float = 5.0) -> str | None:
    """Send one record to syslog; returns a problem to show (the local log stays the record)."""
    address, socktype = parse_syslog_target(target)
    line = json.dumps(record, sort_keys=True, separators=(",", ":"))
    # RFC 3164 framing: <facility authpriv (10) * 8 + severity info (6)>, the tag, the record.
    payload = f"<{10 * 8 + 6}>{SYSLOG_IDENT}: {line}".encode()
    try:
        if isinstance(address, str):
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload, address)
        elif socktype == socket.SOCK_DGRAM:
            family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload, address)
        else:
            with socket.create_connection(address, timeout=timeout) as sock:
                sock.sendall(payload + b"\n")  # one record per line (newline framing)
    except OSError as exc:
        return f"audit record {record['seq']} not sent to syslog ({target}): {exc.strerror or exc}"
    return None
