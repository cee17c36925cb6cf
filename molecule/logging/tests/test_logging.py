"""A three-node OpenSearch cluster (the lab's engine; production runs Elasticsearch 8), converged by
the elasticsearch role, with every node shipping its journal into it through the log_shipper role.
Runs in file order: the later tests restart nodes."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from scenario_helpers import assert_nothing_changed, run_playbook, ssh_host, wait_for

ADDRESSES = {"es1": "10.89.95.11", "es2": "10.89.95.12", "es3": "10.89.95.13"}
NODES = tuple(ADDRESSES)
API = f"http://{ADDRESSES['es1']}:9200"
INITIAL, UPGRADED = "2.19.1", "2.19.6"  # the inventory's version, and the upgrade's
PLAYBOOK = str(Path(__file__).resolve().parents[3] / "playbooks" / "logging.yml")


def api(path: str, method: str = "GET", body: dict | None = None, base: str = API):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def hosts():
    return {name: ssh_host(address) for name, address in ADDRESSES.items()}


def jvm_pid(host) -> str:
    return host.check_output("systemctl show -p MainPID --value opensearch")


def folded(output: str) -> str:
    return " ".join(output.split())


def test_three_nodes_form_one_green_cluster_with_their_roles():
    health = api("/_cluster/health")
    assert (health["cluster_name"], health["status"], health["number_of_nodes"]) == ("mol-logging", "green", 3)
    nodes = {node["name"]: node for node in api("/_nodes")["nodes"].values()}
    assert sorted(nodes) == sorted(NODES)
    assert set(nodes["es1"]["roles"]) == {"cluster_manager", "data", "ingest"}
    assert set(nodes["es3"]["roles"]) == {"cluster_manager", "data"}
    assert nodes["es3"]["attributes"]["temp"] == "warm"
    assert nodes["es1"]["attributes"]["temp"] == "hot"
    assert all(node["jvm"]["mem"]["heap_max_in_bytes"] == 256 * 1024 * 1024 for node in nodes.values())


def test_the_bootstrap_master_list_is_gone_once_the_cluster_formed(hosts):
    for name, host in hosts.items():
        config = host.file("/etc/opensearch/opensearch.yml").content_string
        assert "discovery.seed_hosts" in config, name
        assert "initial_cluster_manager_nodes" not in config, name


def test_templates_and_the_data_stream_are_as_declared():
    template = api("/_index_template/system")["index_templates"][0]["index_template"]
    assert template["index_patterns"] == ["system-*"]
    assert template["composed_of"] == ["journal_mappings"]
    settings = template["template"]["settings"]["index"]
    assert (settings["number_of_shards"], settings["number_of_replicas"], settings["refresh_interval"]) \
        == ("2", "1", "5s")
    trading = api("/_index_template/trading_logs")["index_templates"][0]["index_template"]
    assert trading["template"]["settings"]["index"]["number_of_shards"] == "5"
    streams = {stream["name"]: stream for stream in api("/_data_stream/system-journal")["data_streams"]}
    assert streams["system-journal"]["status"] in ("GREEN", "green")


def test_every_node_ships_its_journal_searchable_by_the_template_fields(hosts):
    marker = f"bizra-ship-{uuid.uuid4().hex}"
    for name, host in hosts.items():
        host.run_expect([0], f"logger -t bizra-test '{marker} from {name}'")

    def shipped():
        api("/system-journal/_refresh", "POST")
        query = {"query": {"match_phrase": {"message": marker}}, "size": 10}
        return api("/system-journal/_search", "POST", query)["hits"]["hits"]

    hits = wait_for(lambda: len(shipped()) == len(hosts) and shipped(), 90, "each node's marker line in system-journal")
    by_host = {hit["_source"]["host.name"]: hit["_source"] for hit in hits}
    assert sorted(by_host) == sorted(NODES)
    for name, source in by_host.items():
        assert source["message"] == f"{marker} from {name}"
        assert source["process.name"] == "bizra-test"
        assert source["event.dataset"] == "journald"
    # The fields are mapped as the template says: a term query on a keyword finds them.
    term = {"query": {"bool": {"filter": [{"term": {"host.name": "es2"}}, {"term": {"process.name": "bizra-test"}},
                                          {"match_phrase": {"message": marker}}]}}}
    assert api("/system-journal/_search", "POST", term)["hits"]["total"]["value"] == 1
    mapping = api("/system-journal/_mapping")
    properties = next(iter(mapping.values()))["mappings"]["properties"]
    assert properties["host"]["properties"]["name"]["type"] == "keyword"


def test_check_mode_on_the_converged_cluster_changes_nothing():
    code, output, recap = run_playbook(PLAYBOOK, "--check", "--diff")
    assert code == 0, output[-3000:]
    assert_nothing_changed(recap, output, NODES)


def node_versions() -> dict[str, str]:
    return {node["name"]: node["version"] for node in api("/_nodes")["nodes"].values()}


def test_an_upgrade_rolls_through_the_nodes_one_at_a_time_behind_the_gate(hosts):
    """INITIAL to UPGRADED (both assembled from Maven Central): a rolling upgrade of a real cluster."""
    assert node_versions() == {name: INITIAL for name in NODES}
    before = {name: jvm_pid(host) for name, host in hosts.items()}
    fewest_nodes, samples, stop = [3], [], threading.Event()

    def watch():
        # The cluster as a client sees it during the upgrade (any node that answers).
        while not stop.is_set():
            for address in ADDRESSES.values():
                try:
                    nodes = api("/_cat/nodes?format=json", base=f"http://{address}:9200")
                except (urllib.error.URLError, OSError, ValueError):
                    continue
                fewest_nodes[0] = min(fewest_nodes[0], len(nodes))
                samples.append(len(nodes))
                break
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        code, output, _ = run_playbook(PLAYBOOK, "-e", f"elasticsearch_version={UPGRADED}")
    finally:
        stop.set()
        watcher.join()
    assert code == 0, output[-3000:]
    after = {name: jvm_pid(host) for name, host in hosts.items()}
    assert all(after[name] != before[name] for name in NODES), (before, after)
    # Never more than one node away: the other two always answered with each other.
    print(f"rolling upgrade: {len(samples)} samples, fewest nodes seen {fewest_nodes[0]} of 3")
    assert samples and fewest_nodes[0] >= 2
    restarts = re.findall(
        r"RUNNING HANDLER \[bizra\.infra\.elasticsearch : Restart the node\] \**\s*changed: \[(es\d)\]", output)
    assert restarts == ["es1", "es2", "es3"], restarts
    assert node_versions() == {name: UPGRADED for name in NODES}
    assert api("/_cluster/health")["status"] == "green"
    settings = api("/_cluster/settings?flat_settings=true")
    assert "cluster.routing.allocation.enable" not in settings["persistent"], settings
    # The data written before the upgrade is still there, and the previous release is kept.
    assert api("/system-journal/_count")["count"] > 0
    for host in hosts.values():
        assert host.file("/opt/opensearch/current").linked_to == f"/opt/opensearch/opensearch-{UPGRADED}"
        assert host.file(f"/opt/opensearch/opensearch-{INITIAL}/bin/opensearch").is_file


def test_a_failed_gate_stops_the_run_at_that_node(hosts):
    # An index whose replicas no node can take keeps the cluster yellow: the first restarted node
    # cannot bring it back to green, and the run must stop there.
    api("/gate-test", "PUT", {"settings": {"index.number_of_shards": 1, "index.number_of_replicas": 5}})
    try:
        before = {name: jvm_pid(host) for name, host in hosts.items()}
        # A heap change restarts the nodes; the rejoin keeps its own (default) timeout.
        code, output, _ = run_playbook(
            PLAYBOOK, "-e", f"elasticsearch_version={UPGRADED}", "-e", "elasticsearch_heap_mb=288",
            "-e", "elasticsearch_restart_health_timeout=20")
        text = folded(output)
        assert code != 0
        assert ("opensearch on es1 failed its health gate after the restart: the cluster is yellow, "
                "not green after 20 s") in text
        assert "The nodes after it were not touched." in text
        after = {name: jvm_pid(host) for name, host in hosts.items()}
        assert after["es1"] != before["es1"]
        assert (after["es2"], after["es3"]) == (before["es2"], before["es3"])
    finally:
        api("/gate-test", "DELETE")
    # The stopped run left allocation on (es1 had rejoined): green again once the index is gone.
    wait_for(lambda: api("/_cluster/health")["status"] == "green", 120, "green once the test index is gone")
    assert "cluster.routing.allocation.enable" not in api("/_cluster/settings?flat_settings=true")["persistent"]


@pytest.mark.parametrize(("extra", "message"), [
    ({"elasticsearch_heap_mb": 40000},
     "elasticsearch_heap_mb 40000 is above 31744 (31 GiB)"),
    ({"elasticsearch_node_roles": ["master", "data_frozen"]},
     "data_frozen"),
    ({"elasticsearch_index_templates": [
        {"name": "a", "body": {"index_patterns": ["trading-*"], "priority": 100}},
        {"name": "b", "body": {"index_patterns": ["trading-eu-*"], "priority": 100}}]},
     "index templates a and b: patterns trading-* and trading-eu-* match the same indices at the same priority"),
    ({"elasticsearch_index_templates": [
        {"name": "z", "body": {"index_patterns": ["z-*"], "template": {"settings": {"number_of_shards": 0}}}}]},
     "index template z: number_of_shards is 0"),
    # Every error at once: the Elasticsearch-only settings this inventory lacks, and the policy's.
    ({"elasticsearch_engine": "elasticsearch",
      "elasticsearch_ilm_policies": [{"name": "trading", "policy": {"phases": {
          "hot": {"actions": {"rollover": {"max_age": "2d"}}},
          "warm": {"min_age": "1d", "actions": {}}}}}]},
     "ILM policy trading: warm.min_age (1d) is earlier than the hot phase's rollover max_age (2d)"),
])
def test_bad_input_is_refused_before_anything_changes(hosts, extra, message):
    before = {name: (jvm_pid(host), host.file("/etc/opensearch/opensearch.yml").md5sum) for name, host in hosts.items()}
    code, output, _ = run_playbook(PLAYBOOK, "-e", json.dumps(extra))
    text = folded(output)
    assert code != 0
    assert message in text, text[-3000:]
    assert "Traceback" not in output
    assert {name: (jvm_pid(host), host.file("/etc/opensearch/opensearch.yml").md5sum)
            for name, host in hosts.items()} == before
