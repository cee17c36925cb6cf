"""Where bizractl finds the project and keeps its state.

The project root: what settings.Settings says (``--project DIR`` > ``$BIZRA_PROJECT``), else the
nearest parent of the current directory holding a ``galaxy.yml`` for ``bizra.infra``.
"""

from __future__ import annotations

import os
from pathlib import Path

from bizractl.errors import BadInputError

COLLECTION_NAMESPACE = "bizra"
COLLECTION_NAME = "infra"


def _is_project_root(path: Path) -> bool:
    galaxy = path / "galaxy.yml"
    if not galaxy.is_file():
        return False
    text = galaxy.read_text(encoding="utf-8")
    return f"namespace: {COLLECTION_NAMESPACE}" in text and f"name: {COLLECTION_NAME}" in text


def find_project_root(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None,
                      named_by: str = "--project") -> Path:
    """Return the checkout of the bizra.infra collection bizractl works on.

    ``explicit``: the project the settings name (``named_by`` says where it came from, for the error).
    """
    if explicit:
        root = Path(explicit).expanduser().resolve()
        if not _is_project_root(root):
            raise BadInputError(f"{named_by} {root}: no galaxy.yml for bizra.infra there")
        return root
    start = (cwd or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if _is_project_root(candidate):
            return candidate
    # Fall back to the checkout this package lives in (bizractl installed in editable mode).
    here = Path(__file__).resolve().parent.parent
    if _is_project_root(here):
        return here
    raise BadInputError(
        f"no bizra.infra checkout found from {start} upwards; "
        "run inside the repository, or pass --project / set BIZRA_PROJECT"
    )


def ensure_collection_link(root: Path) -> Path:
    """Make ``bizra.infra.*`` resolve to this checkout: .cache/collections/.../bizra/infra -> root.

    ansible.cfg puts .cache/collections first on collections_path, so playbooks run from
    the checkout see the live tree, not the copy ansible-compat keeps in .ansible/.
    """
    link = root / ".cache" / "collections" / "ansible_collections" / COLLECTION_NAMESPACE / COLLECTION_NAME
    if link.is_symlink() and link.resolve() == root:
        return link
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(root, target_is_directory=True)
    return link


def lab_home() -> Path:
    """Lab state shared by `bizractl lab` and Molecule: SSH key pair (settings: BIZRA_LAB_HOME)."""
    from bizractl.settings import Settings

    return Settings.load().lab_home


def cache_home() -> Path:
    """Caches that outlive a checkout: image build cache, shared apt archives."""
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "bizra"
