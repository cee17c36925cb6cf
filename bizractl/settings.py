"""bizractl's settings: every BIZRA_* variable is read here, nowhere else.

One order for each setting: the command-line flag > the environment variable > the default.

| setting   | flag        | environment     | default                                          |
|-----------|-------------|-----------------|--------------------------------------------------|
| project   | --project   | BIZRA_PROJECT   | nearest parent of the cwd with bizra.infra's galaxy.yml |
| runs_dir  |             | BIZRA_RUNS_DIR  | <project>/runs                                   |
| runs_keep | --keep-runs | BIZRA_RUNS_KEEP | 20                                               |
| lab_home  |             | BIZRA_LAB_HOME  | ~/.local/share/bizra/lab                         |
| audit_syslog |          | BIZRA_AUDIT_SYSLOG | off; `local` (/dev/log), `udp://HOST:PORT`, `tcp://HOST:PORT` |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bizractl.errors import BadInputError

ENV_PROJECT = "BIZRA_PROJECT"
ENV_RUNS_DIR = "BIZRA_RUNS_DIR"
ENV_RUNS_KEEP = "BIZRA_RUNS_KEEP"
ENV_LAB_HOME = "BIZRA_LAB_HOME"
ENV_AUDIT_SYSLOG = "BIZRA_AUDIT_SYSLOG"
DEFAULT_RUNS_KEEP = 20
DEFAULT_LAB_HOME = "~/.local/share/bizra/lab"


@dataclass(frozen=True)
class Settings:
    project: str | None
    runs_dir: Path | None
    runs_keep: int
    lab_home: Path
    # Where each audit record is also sent (audit.forward), or None.
    audit_syslog: str | None = None

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, *, project: str | None = None,
             runs_keep: int | None = None) -> Settings:
        env = os.environ if environ is None else environ
        keep_text = env.get(ENV_RUNS_KEEP)
        if runs_keep is None and keep_text:
            if not keep_text.isdigit() or int(keep_text) < 1:
                raise BadInputError(f"{ENV_RUNS_KEEP}={keep_text!r}: a whole number of runs, 1 or more")
            runs_keep = int(keep_text)
        return cls(
            project=project or env.get(ENV_PROJECT) or None,
            runs_dir=Path(env[ENV_RUNS_DIR]).expanduser() if env.get(ENV_RUNS_DIR) else None,
            runs_keep=runs_keep if runs_keep is not None else DEFAULT_RUNS_KEEP,
            lab_home=Path(env.get(ENV_LAB_HOME) or DEFAULT_LAB_HOME).expanduser(),
            audit_syslog=_syslog_target(env.get(ENV_AUDIT_SYSLOG, "").strip()),
        )

    def runs_dir_for(self, project_root: Path) -> Path:
        return self.runs_dir or project_root / "runs"


def _syslog_target(text: str) -> str | None:
    if not text:
        return None
    from bizractl.audit import parse_syslog_target

    try:
        parse_syslog_target(text)
    except ValueError as exc:
        raise BadInputError(f"{ENV_AUDIT_SYSLOG}={text!r}: {exc}") from None
    return text
