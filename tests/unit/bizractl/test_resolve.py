import re
from pathlib import Path

import pytest

from bizractl.errors import BadInputError
from bizractl.resolve import (
    available_playbooks,
    check_extra_vars,
    check_inventory_syntax,
    resolve_inventory,
    resolve_playbook,
)


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


def test_inventory_yaml_error_names_the_file_and_line(tmp_path):
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    a: {}\n")
    (tmp_path / "group_vars" / "all.yml").write_text("base_timezone: UTC\nbase_packages_extra: [htop\n")
    with pytest.raises(BadInputError, match=re.escape(
            f"inventory file {tmp_path / 'group_vars' / 'all.yml'} line 3, column 1: not valid YAML "
            "(did not find expected ',' or ']', while parsing a flow sequence that starts at line 2)")):
        check_inventory_syntax(tmp_path)


def test_inventory_with_vault_values_and_vault_files_passes(tmp_path):
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(
        "secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\nraw: !unsafe '{{ x }}'\n")
    (tmp_path / "group_vars" / "vault.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162636465\n")
    check_inventory_syntax(tmp_path)


@pytest.mark.parametrize("name", ["lab", "production"])
def test_the_shipped_inventories_parse(name):
    check_inventory_syntax(Path(__file__).resolve().parents[3] / "inventories" / name)
