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


INVENTORY_SUFFIXES = (".yml", ".yaml", ".json")
VAULT_FILE_HEADER = "$ANSIBLE_VAULT;"


def _yaml_loader():
    """PyYAML's safe loader (C when built) that accepts Ansible's tags (!vault, !unsafe) as plain values."""
    import yaml

    class InventoryLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        pass

    def any_tag(loader, _suffix, node):
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    InventoryLoader.add_multi_constructor("!", any_tag)
    return yaml, InventoryLoader


def check_inventory_syntax(inventory: Path) -> None:
    """Every YAML file of an inventory parses; a broken one is named with its line, before any run.

    (ansible-core 2.19 reports only "YAML parsing failed", without the file.)
    """
    files = [inventory] if inventory.is_file() else sorted(
        p for p in inventory.rglob("*") if p.is_file() and p.suffix in INVENTORY_SUFFIXES)
    yaml, loader = _yaml_loader()
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if text.startswith(VAULT_FILE_HEADER):  # a whole-file vault: Ansible decrypts it
            continue
        try:
            yaml.load(text, Loader=loader)  # a safe loader: see _yaml_loader
        except yaml.YAMLError as error:
            mark, start = getattr(error, "problem_mark", None), getattr(error, "context_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error)
            context = getattr(error, "context", None)
            if context and start is not None:
                problem += f", {context} that starts at line {start.line + 1}"
            raise BadInputError(f"inventory file {path}{where}: not valid YAML ({problem})") from None


def vault_password_file(value: str | None) -> Path | None:
    """``--vault-password-file``: the file, resolved, or None when not given."""
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise BadInputError(f"--vault-password-file: no such file {path}")
    return path


def check_extra_vars(values: tuple[str, ...], cwd: Path | None = None) -> None:
    """``-e @file`` must name a readable file; other forms are checked by Ansible."""
    for value in values:
        if value.startswith("@"):
            path = Path(value[1:]).expanduser()
            if not path.is_absolute():
                path = (cwd or Path.cwd()) / path
            if not path.is_file():
                raise BadInputError(f"-e {value}: no such file {path}")
