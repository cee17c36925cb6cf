"""One deploy at a time per inventory.

A deploy (not a plan: plans change nothing) holds an exclusive ``flock`` on
``<runs dir>/.locks/<inventory>-<digest of its path>.lock`` for as long as it runs, and writes its
holder there (user, controller, pid, playbook, start time). A second deploy against the same
inventory is refused at once, naming the holder. The kernel drops the lock when its process ends,
however it ends; a holder record left behind by a process that is gone is taken over with a
message.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bizractl.errors import BizraError


class LockedError(BizraError):
    """Another deploy holds the inventory's lock."""


@dataclass
class RunLock:
    path: Path
    fd: int
    took_over: str = ""

    def release(self) -> None:
        if self.fd < 0:
            return
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1


def lock_path(runs_dir: Path, inventory: Path) -> Path:
    digest = hashlib.sha256(str(inventory.resolve()).encode()).hexdigest()[:12]
    return runs_dir / ".locks" / f"{inventory.name}-{digest}.lock"


def _describe(holder: dict) -> str:
    return (f"{holder.get('user', '?')}@{holder.get('controller', '?')} pid {holder.get('pid', '?')}, "
            f"{holder.get('playbook', '?')}, since {holder.get('started', '?')}")


def acquire(runs_dir: Path, inventory: Path, playbook: Path, now: datetime | None = None) -> RunLock:
    path = lock_path(runs_dir, inventory)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        raise LockedError(f"another deploy against {inventory} is running ({_describe(holder)}); "
                          "wait for it to end, or stop it") from None
    left = _read(fd)
    took_over = f"took over the lock left by {_describe(left)} (that process is gone)" if left else ""
    holder = {"user": getpass.getuser(), "controller": socket.gethostname(), "pid": os.getpid(),
              "playbook": playbook.name, "inventory": str(inventory),
              "started": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
    return RunLock(path, fd, took_over)


def _read(fd: int) -> dict:
    try:
        text = os.pread(fd, 65536, 0).decode()
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
