"""The incident playbooks (playbooks/incident/): what each does, and which are destructive.

Each playbook's header says it: the first comment line is its summary, and a line starting
``# Destructive:`` marks one that needs the target's name typed as confirmation (the playbooks
check it with tasks/confirm.yml; bizractl asks for it and passes it as ``incident_confirm``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bizractl.errors import BadInputError

CONFIRM_VARIABLE = "incident_confirm"
DESTRUCTIVE_MARK = "# Destructive:"


@dataclass(frozen=True)
class Incident:
    name: str
    summary: str
    destructive: str  # what the header says is destroyed and what to type; "" when read-only or safe


def _header(path: Path) -> list[str]:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == "---":
            continue
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def read(path: Path) -> Incident:
    header = _header(path)
    opening = []  # the header's first sentence, up to the usage lines (indented) or a full stop
    for line in header:
        if line.startswith("#  ") or line.startswith(DESTRUCTIVE_MARK):
            break
        opening.append(line.lstrip("#").strip())
    summary = " ".join(opening).split(". ")[0].rstrip(":.")
    destructive = next((line[len(DESTRUCTIVE_MARK):].strip().rstrip(".") for line in header
                        if line.startswith(DESTRUCTIVE_MARK)), "")
    return Incident(path.stem, summary, destructive)


def available(root: Path) -> list[Incident]:
    return [read(path) for path in sorted((root / "playbooks" / "incident").glob("*.yml"))]


def find(root: Path, name: str) -> Incident:
    incidents = {incident.name: incident for incident in available(root)}
    wanted = name.removeprefix("incident/").removesuffix(".yml")
    if wanted not in incidents:
        raise BadInputError(f"unknown incident playbook {name!r}. Available: {', '.join(incidents) or '(none)'}")
    return incidents[wanted]


def confirmation_given(extra_vars: tuple[str, ...]) -> bool:
    """Whether -e already carries incident_confirm (then bizractl does not ask again)."""
    return any(value.lstrip().startswith(f"{CONFIRM_VARIABLE}=") or f'"{CONFIRM_VARIABLE}"' in value
               for value in extra_vars)
