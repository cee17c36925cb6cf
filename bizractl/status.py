"""`bizractl status` and `bizractl diag`: read-only passes over the fleet.

status: the fleet's health in one pass, and each host's last run.

playbooks/status.yml runs one task per host (bizra.infra.host_status) through ansible-runner in a
private temporary directory: nothing is recorded in runs/ or the audit trail (status changes
nothing and is run often). The last run of each host comes from the run directories' summaries.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bizractl.runspec import RunSpec, build_runner_kwargs

COMPONENTS = ("services", "bgp", "postgresql", "geth", "raid", "firewall", "prometheus")
RANK = {"ok": 0, "warn": 1, "crit": 2}


@dataclass
class HostStatus:
    name: str
    reachable: bool = True
    error: str = ""
    components: dict = field(default_factory=dict)
    last_run: dict | None = None

    @property
    def health(self) -> str:
        if not self.reachable or self.error:
            return "crit"
        worst = max((RANK.get(c.get("health"), 2) for c in self.components.values()), default=0)
        return {v: k for k, v in RANK.items()}[worst]

    def as_dict(self) -> dict:
        return {"host": self.name, "reachable": self.reachable, "health": self.health, "error": self.error,
                "last_run": self.last_run, "components": self.components}


def last_runs(runs_dir: Path | None, inventory: Path) -> dict[str, dict]:
    """Each host's newest recorded run against this inventory: id, playbook, result, its counts."""
    found: dict[str, dict] = {}
    if runs_dir is None or not runs_dir.is_dir():
        return found
    for summary_path in sorted(runs_dir.glob("*/summary.json"), reverse=True):  # run ids sort by time
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            continue
        if Path(summary.get("inventory", "")).resolve() != inventory.resolve():
            continue
        for host, counts in (summary.get("hosts") or {}).items():
            if host in found:
                continue
            result = ("failed" if counts.get("failed") else "unreachable" if counts.get("unreachable")
                      else "ok")
            found[host] = {"run_id": summary.get("run_id"), "playbook": Path(summary.get("playbook", "")).name,
                           "check": bool(summary.get("check")), "result": result}
    return found


def _run_quietly(root: Path, playbook: str, inventory: Path, work: Path, on_event, *, limit: str | None,
                 vault_password_file: Path | None, forks: int | None = None, extra_vars: dict | None = None) -> None:
    """A read-only playbook through ansible-runner in a private directory; nothing is recorded."""
    import ansible_runner  # slow import: only when a host is read

    extra_files: tuple[Path, ...] = ()
    if extra_vars:
        path = work / "extra-vars.json"
        path.write_text(json.dumps(extra_vars))
        extra_files = (path,)
    (work / "run").mkdir(mode=0o700, exist_ok=True)
    spec = RunSpec(project_root=root, playbook=root / "playbooks" / playbook, inventory=inventory,
                   run_dir=work / "run", limit=limit, vault_password_file=vault_password_file, forks=forks,
                   extra_vars_files=extra_files)
    kwargs = build_runner_kwargs(spec)
    kwargs.update(event_handler=on_event)
    ansible_runner.run(**kwargs)


def read(root: Path, inventory: Path, *, limit: str | None, vault_password_file: Path | None,
         runs_dir: Path | None, forks: int | None = None) -> list[HostStatus]:
    work = Path(tempfile.mkdtemp(prefix="bizractl-status-"))
    try:
        hosts: dict[str, HostStatus] = {}

        def on_event(event: dict) -> bool:
            data = event.get("event_data") or {}
            host = data.get("host")
            if not host:
                return False
            status = hosts.setdefault(host, HostStatus(host))
            kind = event.get("event")
            result = data.get("res") or {}
            if kind == "runner_on_ok":
                status.components = result.get("components") or {}
            elif kind == "runner_on_unreachable":
                status.reachable = False
                status.error = (result.get("msg") or "unreachable").strip().splitlines()[0][:160]
            elif kind == "runner_on_failed":
                status.error = (result.get("msg") or "the status task failed").strip().splitlines()[0][:160]
            return False  # nothing is kept

        _run_quietly(root, "status.yml", inventory, work, on_event, limit=limit,
                     vault_password_file=vault_password_file, forks=forks)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = last_runs(runs_dir, inventory)
    for name, status in hosts.items():
        status.last_run = runs.get(name)
    return [hosts[name] for name in sorted(hosts)]


def table(statuses: list[HostStatus]):
    from rich.table import Table
    from rich.text import Text

    style = {"ok": "green", "warn": "yellow", "crit": "bold red"}
    shown = [c for c in COMPONENTS if any(c in s.components for s in statuses)]
    result = Table(title="Fleet status", title_justify="left")
    for column in ("host", "health", "last run", *shown):
        result.add_column(column)
    for status in statuses:
        run = status.last_run
        last = f"{run['playbook']} {'plan' if run['check'] else 'deploy'}: {run['result']}" if run else "-"
        cells = [Text(status.name, style="bold"), Text(status.health, style=style[status.health]), last]
        if not status.reachable or status.error:
            cells.append(Text(("UNREACHABLE: " if not status.reachable else "FAILED: ") + status.error,
                              style="bold red"))
            cells += [""] * (len(shown) - 1) if shown else []
        else:
            for name in shown:
                component = status.components.get(name)
                cells.append(Text(component["summary"], style=style.get(component.get("health"), ""))
                             if component else Text("-"))
        result.add_row(*cells)
    return result


# --------------------------------------------------------------------------------------------
# diag: a diagnostics bundle of some hosts, one owner-only tar.gz on the controller.


@dataclass
class DiagResult:
    bundle: Path
    hosts: list[str]
    problems: dict[str, str]  # host -> why it has no bundle


def collect(root: Path, inventory: Path, hosts: tuple[str, ...], dest: Path, *,
            vault_password_file: Path | None) -> DiagResult:
    import datetime
    import io
    import os
    import tarfile

    from bizractl import __version__

    work = Path(tempfile.mkdtemp(prefix="bizractl-diag-"))
    problems: dict[str, str] = {}
    try:
        os.chmod(work, 0o700)
        fetched = work / "fetched"
        fetched.mkdir(mode=0o700)

        def on_event(event: dict) -> bool:
            data = event.get("event_data") or {}
            host = data.get("host")
            if host and event.get("event") in ("runner_on_failed", "runner_on_unreachable") \
                    and not data.get("ignore_errors"):
                message = ((data.get("res") or {}).get("msg") or event["event"]).strip().splitlines()[0]
                problems.setdefault(host, message[:200])
            return False

        _run_quietly(root, "diag.yml", inventory, work, on_event, limit=",".join(hosts),
                     vault_password_file=vault_password_file, extra_vars={"diag_dest": str(fetched)})
        got = sorted(p.name.removesuffix(".tar.gz") for p in fetched.glob("*.tar.gz"))
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        manifest = json.dumps({"created": stamp, "bizractl": __version__, "inventory": str(inventory),
                               "asked": list(hosts), "hosts": got, "problems": problems}, indent=2).encode()
        descriptor = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as bundle:
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mode = len(manifest), 0o600
            bundle.addfile(info, io.BytesIO(manifest))
            for host in got:
                with tarfile.open(fetched / f"{host}.tar.gz") as inner:
                    for member in inner.getmembers():
                        if not member.isfile():
                            continue
                        content = inner.extractfile(member).read()
                        info = tarfile.TarInfo(f"{host}/{member.name}")
                        info.size, info.mode, info.mtime = len(content), 0o600, member.mtime
                        bundle.addfile(info, io.BytesIO(content))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return DiagResult(dest, got, problems)
