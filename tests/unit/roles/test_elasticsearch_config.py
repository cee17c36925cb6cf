"""elasticsearch.yml / opensearch.yml (role elasticsearch), rendered by Ansible from the role's
defaults and a three-node inventory: Elasticsearch 8's security and TLS keys (the lab runs
OpenSearch, so these are proven here), the bootstrap master list only before a node has state,
and OpenSearch's names for roles and tiers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.roles.role_template import render_role_template


def render(tmp_path: Path, host: str = "es1", **variables) -> dict:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"logging": {"hosts": {
        "es1": {"ansible_host": "10.20.4.11"},
        "es2": {"ansible_host": "10.20.4.12"},
        "es3": {"ansible_host": "10.20.4.13", "elasticsearch_node_roles": ["data_warm", "data_cold"]},
    }}}, "vars": {"ansible_connection": "local"}}}))
    return yaml.safe_load(render_role_template(
        "elasticsearch", "etc/elasticsearch/engine.yml.j2", tmp_path / "engine.yml",
        {"__elasticsearch_bootstrap_masters": [], **variables}, host=host, inventory=inventory))


def test_elasticsearch_8_has_tls_on_both_layers_and_the_cluster_from_the_group(tmp_path):
    config = render(tmp_path, elasticsearch_cluster_name="bizra-fra-logs")
    assert config["cluster.name"] == "bizra-fra-logs"
    assert config["node.name"] == "es1"
    assert config["node.roles"] == ["master", "data_content", "data_hot", "ingest"]
    assert config["network.host"] == "10.20.4.11"
    assert config["discovery.seed_hosts"] == ["10.20.4.11:9300", "10.20.4.12:9300", "10.20.4.13:9300"]
    assert "cluster.initial_master_nodes" not in config
    assert config["bootstrap.memory_lock"] is True
    assert config["xpack.security.enabled"] is True
    assert config["xpack.security.enrollment.enabled"] is False
    for layer in ("transport", "http"):
        assert config[f"xpack.security.{layer}.ssl.enabled"] is True
        assert config[f"xpack.security.{layer}.ssl.key"] == "certs/server.key"
        assert config[f"xpack.security.{layer}.ssl.certificate"] == "certs/server.crt"
        assert config[f"xpack.security.{layer}.ssl.certificate_authorities"] == ["certs/ca.crt"]
    assert config["xpack.security.transport.ssl.verification_mode"] == "full"


def test_the_master_list_is_there_only_for_a_first_start(tmp_path):
    # The role passes the group's master-eligible nodes while the node's data path has no state.
    config = render(tmp_path, __elasticsearch_bootstrap_masters=["es1", "es2"])
    assert config["cluster.initial_master_nodes"] == ["es1", "es2"]


def test_a_tiered_node_keeps_its_roles_and_opensearch_gets_its_own_names(tmp_path):
    # (The role's defaults come in as extra vars here, so a host's own roles are passed the same way.)
    assert render(tmp_path, "es3", elasticsearch_node_roles=["data_warm", "data_cold"])["node.roles"] \
        == ["data_warm", "data_cold"]
    config = render(tmp_path, "es1", elasticsearch_engine="opensearch",
                    __elasticsearch_bootstrap_masters=["es1", "es2"])
    assert config["node.roles"] == ["cluster_manager", "data", "ingest"]
    assert config["node.attr.temp"] == "hot"
    assert config["cluster.initial_cluster_manager_nodes"] == ["es1", "es2"]
    assert not [key for key in config if key.startswith("xpack.")]
    assert config["path.data"] == "/var/lib/opensearch"


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_a_single_node_cluster_uses_single_node_discovery(tmp_path, engine):
    config = render(tmp_path, elasticsearch_engine=engine, elasticsearch_cluster_group="ungrouped",
                    __elasticsearch_members=["es1"])
    assert config["discovery.type"] == "single-node"
    assert "discovery.seed_hosts" not in config
