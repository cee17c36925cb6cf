"""The pgbackrest_repository role's cluster settings fall back to the postgresql role's defaults.

The repository must agree with the members on stanza, TLS port, data directory, port, groups and
CA. Its defaults read the postgresql role's variables (set once in the inventory for both) and
fall back to literals for when they are unset: those literals must be the postgresql role's own
defaults, or a repository next to a default-configured cluster would point at the wrong place.
"""
from pathlib import Path

import jinja2
import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def render(template: str, variables: dict) -> str:
    env = jinja2.Environment(undefined=jinja2.Undefined)
    env.globals["lookup"] = lambda kind, name: "/home/sre" if (kind, name) == ("ansible.builtin.env", "HOME") else None
    value = template
    for _ in range(5):  # defaults that refer to other defaults
        rendered = env.from_string(str(value)).render(**variables).strip()
        if rendered == value:
            break
        value = rendered
    return value


POSTGRESQL = {name: value for name, value in load(ROLES / "postgresql/defaults/main.yml").items()}
POSTGRESQL_VARS = load(ROLES / "postgresql/vars/main.yml")
REPOSITORY = load(ROLES / "pgbackrest_repository/defaults/main.yml")


def postgresql_value(name: str) -> str:
    source = POSTGRESQL_VARS[name] if name.startswith("__") else POSTGRESQL[name]
    return render(source, POSTGRESQL)


@pytest.mark.parametrize(("repository_name", "postgresql_name"), [
    ("pgbackrest_repository_members_group", "postgresql_cluster_group"),
    ("pgbackrest_repository_restore_group", "postgresql_backup_restore_group"),
    ("pgbackrest_repository_stanza", "postgresql_backup_stanza"),
    ("pgbackrest_repository_tls_port", "postgresql_backup_tls_port"),
    ("pgbackrest_repository_pg_path", "__postgresql_data_dir"),
    ("pgbackrest_repository_pg_port", "postgresql_port"),
    ("pgbackrest_repository_tls_ca_dir", "postgresql_tls_ca_dir"),
    ("pgbackrest_repository_tls_ca_name", "postgresql_tls_ca_name"),
    ("pgbackrest_repository_tls_cert_valid_days", "postgresql_tls_cert_valid_days"),
])
def test_a_fallback_is_the_postgresql_roles_default(repository_name, postgresql_name):
    fallback = render(REPOSITORY[repository_name], {})  # no postgresql_* variable set
    assert fallback == postgresql_value(postgresql_name)
    assert fallback not in ("", "None")


def test_an_inventory_value_wins_over_the_fallback():
    inventory = {"postgresql_backup_stanza": "trading", "postgresql_backup_tls_port": 9432,
                 "postgresql_version": 17, "postgresql_cluster_name": "main"}
    assert render(REPOSITORY["pgbackrest_repository_stanza"], inventory) == "trading"
    assert render(REPOSITORY["pgbackrest_repository_tls_port"], inventory) == "9432"
    assert render(REPOSITORY["pgbackrest_repository_pg_path"], inventory) == "/var/lib/postgresql/17/main"
