"""Resolve what the user named: a playbook, an inventory, extra variables."""

from __future__ import annotations

from pathlib import Path

from bizractl.errors import BadInputError

PLAYBOOK_SUFFIXES = (".yml", ".yaml")
DEFAULT_INVENTORY = "lab"


def available_playbooks(root: Path) -> list[str]:
    """Playbook names under playbooks/, as the user types them (``site``, ``incident/x``)."""
    base = root / "playbooks"
    names = []
    for path in sorted(base.rglob("*")):
        if path.suffix in PLAYBOOK_SUFFIXES and path.is_file() and "vars" not in path.relative_to(base).parts[:-1]:
            names.append(str(path.relative_to(base).with_suffix("")))
    return names


def resolve_playbook(root: Path, name: str, cwd: Path | None = None) -> Path:
    """A name in playbooks/ (``site.yml``, ``site``, ``incident/pg_failover``) or a path."""
    direct = Path(name).expanduser()
    if not direct.is_absolute():
        direct = (cwd or Path.cwd()) / direct
    if direct.is_file():
        return direct.resolve()
    base = root / "playbooks"
    candidates = [base / name] + [base / f"{name}{suffix}" for suffix in PLAYBOOK_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    available = ", ".join(available_playbooks(root)) or "(none)"
    raise BadInputError(f"unknown playbook {name!r}. Available in {base}: {available}")


def resolve_inventory(root: Path, value: str | None, cwd: Path | None = None) -> Path:
    """``-i``: a path, or a name under inventories/ (``lab``, ``production``). Default: the lab."""
    name = value or DEFAULT_INVENTORY
    looked = []
    direct = Path(name).expanduser()
    if not direct.is_absolute():
        direct = (cwd or Path.cwd()) / direct
    looked.append(direct)
    if direct.exists():
        return direct.resolve()
    named = root / "inventories" / name
    looked.append(named)
    if named.exists():
        return named.resolve()
    inventories = root / "inventories"
    available = sorted(p.name for p in inventories.iterdir() if p.is_dir()) if inventories.is_dir() else []
    raise BadInputError(
        f"inventory {name!r} not found; looked at: {', '.join(str(p) for p in looked)}. "
        f"Inventories in {root / 'inventories'}: {', '.join(available) or '(none)'}"
    )


def check_extra_vars(values: tuple[str, ...], cwd: Path | None = None) -> None:
    """``-e @file`` must name a readable file; other forms are checked by Ansible."""
    for value in values:
        if value.startswith("@"):
            path = Path(value[1:]).expanduser()
            if not path.is_absolute():
                path = (cwd or Path.cwd()) / path
            if not path.is_file():
                raise BadInputError(f"-e {value}: no such file {path}")
