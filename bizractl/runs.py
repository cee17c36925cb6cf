"""Run directories: one per run under the runs directory, private, pruned to a count."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bizractl.errors import BadInputError


def new_run_id(playbook: Path, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{playbook.stem}-{secrets.token_hex(2)}"


def create_run_dir(runs_dir: Path, run_id: str) -> Path:
    runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(runs_dir, 0o700)
    run_dir = runs_dir / run_id
    run_dir.mkdir(mode=0o700)
    return run_dir


def make_private(run_dir: Path) -> None:
    """Owner-only modes for everything a run left (ansible-runner writes some files 0644)."""
    for path in run_dir.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def prune_runs(runs_dir: Path, keep: int) -> list[Path]:
    """Remove the oldest run directories beyond ``keep``. Returns what was removed.

    Only run directories count: not the audit log, not the run locks (``.locks``).
    """
    if keep < 1 or not runs_dir.is_dir():
        return []
    runs = sorted((p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    doomed = runs[: max(0, len(runs) - keep)]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed


def write_extra_vars(values: tuple[str, ...]) -> tuple[Path | None, tuple[Path, ...]]:
    """Put the user's -e values in private temporary files (0600 in a 0700 directory).

    Returns the temporary directory (the caller removes it when the run ends) and the files
    to pass as ``-e @file``. ``-e @file`` arguments are passed through as they are. Every value
    is parsed before anything is written: a bad one raises BadInputError and leaves no file.
    """
    if not values:
        return None, ()
    parsed = [None if value.startswith("@") else parse_extra_vars(value, number)
              for number, value in enumerate(values, start=1)]
    tmp = Path(tempfile.mkdtemp(prefix="bizractl-vars-"))
    files: list[Path] = []
    for index, (value, data) in enumerate(zip(values, parsed, strict=True)):
        if data is None:
            files.append(Path(value[1:]).expanduser().resolve())
            continue
        path = tmp / f"extra-{index}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        files.append(path)
    return tmp, tuple(files)


def extra_var_names(extra_dir: Path | None, files: tuple[Path, ...]) -> tuple[str, ...]:
    """The names (never the values) of the -e variables, for the audit trail: the keys of the files
    write_extra_vars made, and ``@<file name>`` for a file the user gave."""
    names: list[str] = []
    for path in files:
        if extra_dir is not None and path.parent == extra_dir:
            names.extend(sorted(json.loads(path.read_text(encoding="utf-8"))))
        else:
            names.append(f"@{path.name}")
    return tuple(names)


def parse_extra_vars(value: str, number: int = 1) -> dict:
    """``-e`` as Ansible reads it: a JSON/YAML mapping, or ``key=value key2=value2``.

    Errors name the ``-e`` by its position and say what is wrong, never its text (it may hold a
    secret).
    """
    text = value.strip()
    which = f"-e #{number}"
    if text.startswith("{"):
        import yaml  # a JSON object is YAML too

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "not valid"
            raise BadInputError(f"{which}: not a valid JSON/YAML mapping ({problem}{where})") from None
        if not isinstance(data, dict):
            raise BadInputError(f"{which}: the JSON/YAML value is not a mapping of variable names to values")
        return data
    from ansible.parsing.splitter import parse_kv

    try:
        data = parse_kv(text)
    except Exception as exc:  # ansible's splitter raises its own error types for unbalanced quotes
        raise BadInputError(f"{which}: not key=value pairs ({type(exc).__name__})") from None
    if not data or "_raw_params" in data:
        raise BadInputError(f"{which}: expected key=value pairs, a JSON/YAML mapping or @file; got a bare word")
    return data


# Environment variables kept in the run's ``command`` artifact; every other one (cloud
# tokens, VAULT_*, anything the operator's shell carries) is dropped after the run.
KEPT_ENV_PREFIXES = ("ANSIBLE_", "RUNNER_")
KEPT_ENV_NAMES = ("PATH", "HOME", "LANG", "PWD")


def scrub_command_artifact(artifact_dir: Path) -> None:
    """ansible-runner writes the whole process environment next to the command line."""
    # A run in the execution environment also leaves the container's environment file.
    (artifact_dir / "env.list").unlink(missing_ok=True)
    command_file = artifact_dir / "command"
    if not command_file.is_file():
        return
    data = json.loads(command_file.read_text(encoding="utf-8"))
    env = data.get("env") or {}
    data["env"] = {k: v for k, v in env.items() if k.startswith(KEPT_ENV_PREFIXES) or k in KEPT_ENV_NAMES}
    command_file.write_text(json.dumps(data), encoding="utf-8")
    command_file.chmod(0o600)
