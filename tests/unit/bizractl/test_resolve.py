from pathlib import Path

import pytest

from bizractl.errors import BadInputError
from bizractl.resolve import available_playbooks, check_extra_vars, resolve_inventory, resolve_playbook


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "playbooks" / "incident").mkdir(parents=True)
    (tmp_path / "playbooks" / "site.yml").write_text("---\n")
    (tmp_path / "playbooks" / "incident" / "pg_failover.yml").write_text("---\n")
    (tmp_path / "inventories" / "lab").mkdir(parents=True)
    (tmp_path / "inventories" / "production").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("name", ["site.yml", "site", "playbooks/site.yml"])
def test_playbook_by_name_or_path(tree: Path, name: str):
    assert resolve_playbook(tree, name, cwd=tree) == tree / "playbooks" / "site.yml"


def test_playbook_in_subdirectory(tree: Path):
    assert resolve_playbook(tree, "incident/pg_failover", cwd=tree).name == "pg_failover.yml"


def test_unknown_playbook_lists_the_available_ones(tree: Path):
    with pytest.raises(BadInputError, match=r"unknown playbook 'nope'.*incident/pg_failover, site"):
        resolve_playbook(tree, "nope", cwd=tree)


def test_available_playbooks(tree: Path):
    assert available_playbooks(tree) == ["incident/pg_failover", "site"]


def test_default_inventory_is_the_lab(tree: Path):
    assert resolve_inventory(tree, None, cwd=tree / "playbooks") == tree / "inventories" / "lab"


def test_inventory_by_name(tree: Path):
    assert resolve_inventory(tree, "production", cwd=tree / "playbooks") == tree / "inventories" / "production"


def test_missing_inventory_says_where_it_looked(tree: Path):
    with pytest.raises(BadInputError) as error:
        resolve_inventory(tree, "staging", cwd=tree)
    message = str(error.value)
    assert str(tree / "staging") in message
    assert str(tree / "inventories" / "staging") in message
    assert "lab, production" in message


def test_extra_vars_file_must_exist(tree: Path):
    check_extra_vars(("a=b", '{"x": 1}'), cwd=tree)
    with pytest.raises(BadInputError, match="no such file"):
        check_extra_vars(("@missing.yml",), cwd=tree)
