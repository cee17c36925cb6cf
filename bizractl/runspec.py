"""A playbook run as data, and the ansible-runner arguments built from it (no side effects)."""

from __future__ import annotations

import configparser
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

# ansible-runner's name for the run inside its artifact directory (artifacts/ansible/).
RUNNER_IDENT = "ansible"


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, decided before it starts (lifecycle.prepare builds it)."""

    project_root: Path
    playbook: Path
    inventory: Path
    run_dir: Path
    run_id: str = ""
    # What the progress view and reports call the run ("bizractl deploy site.yml").
    title: str = ""
    runs_dir: Path | None = None
    keep_runs: int = 20
    limit: str | None = None
    tags: str | None = None
    skip_tags: str | None = None
    check: bool = False
    diff: bool = False
    forks: int | None = None
    vault_password_file: Path | None = None
    verbosity: int = 0
    # Files holding the user's -e values. Values never travel on the command line (they
    # would land in the run's artifacts and in /proc/*/cmdline); see runs.write_extra_vars.
    extra_vars_files: tuple[Path, ...] = field(default_factory=tuple)
    # The private temporary directory holding them; the run removes it when it ends.
    extra_vars_dir: Path | None = None
    # Their variable names (never values), for the audit trail.
    extra_vars_names: tuple[str, ...] = field(default_factory=tuple)
    # The inventory's run lock a deploy holds until it is recorded (runlock.RunLock; None for plans).
    lock: object | None = field(default=None, compare=False)
    # Run inside the execution environment (ee.EERun), or directly (None).
    ee: object | None = None
    # Where the audit record is also sent (settings.audit_syslog), or None.
    audit_syslog: str | None = None
    # The offline checks still running (validate.Pending) while Ansible starts: the run waits at
    # its start gate (plugins/callback/start_gate.py) until they pass. None: checked before, or not.
    checks: object | None = field(default=None, compare=False)

    @property
    def start_gate(self) -> Path:
        return self.run_dir / "start-gate"

    @property
    def artifact_dir(self) -> Path:
        return self.run_dir / "artifacts"

    @property
    def events_dir(self) -> Path:
        """Where ansible-runner keeps the run's events (bizractl writes them there, lifecycle.keep_event)."""
        return self.artifact_dir / RUNNER_IDENT / "job_events"


def fact_cache_dir(project_root: Path, inventory: Path) -> Path:
    """Facts are cached per inventory: lab facts never answer for production hosts."""
    return project_root / ".cache" / "facts" / inventory.name


def build_cmdline(spec: RunSpec) -> list[str]:
    args: list[str] = []
    if spec.check:
        args.append("--check")
    if spec.diff:
        args.append("--diff")
    if spec.vault_password_file:
        args += ["--vault-password-file", str(spec.vault_password_file)]
    for path in spec.extra_vars_files:
        args += ["-e", f"@{path}"]
    return args


START_GATE_CALLBACK = "bizra.infra.start_gate"


def enabled_callbacks(project_root: Path) -> list[str]:
    """The callbacks the user enabled (environment, else ansible.cfg): the start gate joins them."""
    named = os.environ.get("ANSIBLE_CALLBACKS_ENABLED")
    if named is None:
        config = configparser.ConfigParser(interpolation=None)
        config.read(project_root / "ansible.cfg", encoding="utf-8")
        named = config.get("defaults", "callbacks_enabled", fallback="")
    return [name.strip() for name in named.split(",") if name.strip() and name.strip() != START_GATE_CALLBACK]


# ansible-runner's event callback, lighter (runner_callback/awx_display.py): runner loads it from here.
RUNNER_CALLBACK_DIR = Path(__file__).parent / "runner_callback"


def ansible_bin_dir() -> Path:
    """The bin directory of the Python running bizractl (the project's venv)."""
    return Path(sys.executable).parent


def build_runner_kwargs(spec: RunSpec) -> dict:
    """Keyword arguments for ``ansible_runner.run`` (callbacks are added by the caller)."""
    bin_dir = ansible_bin_dir()
    kwargs: dict = {
        "private_data_dir": str(spec.run_dir),
        "artifact_dir": str(spec.artifact_dir),
        "ident": RUNNER_IDENT,
        "project_dir": str(spec.project_root),
        "playbook": str(spec.playbook),
        "inventory": str(spec.inventory),
        "cmdline": shlex.join(build_cmdline(spec)),
        "envvars": {
            # The ansible-playbook of bizractl's own environment comes first, whatever PATH says.
            "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
            "ANSIBLE_CONFIG": str(spec.project_root / "ansible.cfg"),
            # ansible-runner turns host key checking off unless told: production keeps it on,
            # the lab inventory relaxes it for its throw-away hosts only.
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_CACHE_PLUGIN": "jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(fact_cache_dir(spec.project_root, spec.inventory)),
            "ANSIBLE_FORCE_HANDLERS": "True",
            "ANSIBLE_NOCOLOR": "True",
            "AWX_LIB_DIRECTORY": str(RUNNER_CALLBACK_DIR),
        },
        # Our own fact cache (above), not one per run inside the artifacts.
        "fact_cache_type": "bizractl",
        # env/ would hold a copy of the run's settings; nothing there is needed afterwards.
        "suppress_env_files": True,
        "quiet": True,
        "json_mode": False,
        "timeout": None,
    }
    if spec.checks is not None:
        kwargs["envvars"].update(
            BIZRA_START_GATE=str(spec.start_gate),
            ANSIBLE_CALLBACKS_ENABLED=",".join([*enabled_callbacks(spec.project_root), START_GATE_CALLBACK]))
    if spec.limit:
        kwargs["limit"] = spec.limit
    if spec.tags:
        kwargs["tags"] = spec.tags
    if spec.skip_tags:
        kwargs["skip_tags"] = spec.skip_tags
    if spec.forks:
        kwargs["forks"] = spec.forks
    if spec.verbosity:
        kwargs["verbosity"] = spec.verbosity
    if spec.ee is not None:
        from bizractl import ee

        kwargs = ee.runner_kwargs(kwargs, spec.ee)
    return kwargs
