"""Elasticsearch resources as data: converge, idempotence, check mode, diff, passwords, input rules.

Runs against tests/unit/plugins/module_utils/fake_elasticsearch.py, a labelled stand-in of
Elastic's documented API (ILM and security differ in OpenSearch, the lab's real engine)."""

from __future__ import annotations

import copy
import json

import pytest

from plugins.module_utils import elasticsearch as es
from tests.unit.plugins.module_utils.fake_elasticsearch import FakeElasticsearch

# seed 001 §4: template trading_logs (5 shards, 1 replica, refresh 5 s); ILM hot 2 d / 50 GB,
# warm 7 d, cold 30 d, delete 90 d
POLICY = {"name": "trading_logs", "policy": {"phases": {
    "hot": {"actions": {"rollover": {"max_age": "2d", "max_size": "50gb"}}},
    "warm": {"min_age": "7d", "actions": {"forcemerge": {"max_num_segments": 1}}},
    "cold": {"min_age": "30d", "actions": {}},
    "delete": {"min_age": "90d", "actions": {"delete": {}}},
}}}
COMPONENT = {"name": "trading_logs_settings", "body": {"template": {"settings": {
    "number_of_shards": 5, "number_of_replicas": 1, "refresh_interval": "5s",
    "index.lifecycle.name": "trading_logs"}}}}
TEMPLATES = [
    {"name": "trading_logs", "body": {"index_patterns": ["trading-*"], "priority": 200, "data_stream": {},
                                      "composed_of": ["trading_logs_settings"],
                                      "template": {"mappings": {"properties": {"@timestamp": {"type": "date"},
                                                                               "venue": {"type": "keyword"}}}}}},
    {"name": "system_logs", "body": {"index_patterns": ["system-*"], "priority": 200, "data_stream": {}}},
]
ROLE = {"name": "logstash_writer", "body": {
    "cluster": ["monitor", "manage_ilm", "manage_index_templates"],
    "indices": [{"names": ["trading-*", "system-*", "security-*"],
                 "privileges": ["create_doc", "create_index", "auto_configure"]}]}}
SECRET = "canary-Kq93v-not-for-output"
USERS = [{"name": "logstash_internal", "roles": ["logstash_writer"], "full_name": "Logstash", "password": SECRET},
         {"name": "kibana_system", "builtin": True, "password": SECRET + "-kibana"}]
ALL = {"policies": [POLICY], "component_templates": [COMPONENT], "index_templates": TEMPLATES,
       "data_streams": ["trading-default"], "roles": [ROLE], "users": USERS}


def test_an_empty_cluster_converges_and_the_second_run_changes_nothing():
    cluster = FakeElasticsearch()
    first = es.converge(cluster, **ALL)
    assert first["changes"] == [
        "create ILM policy trading_logs", "create component template trading_logs_settings",
        "create index template trading_logs", "create index template system_logs",
        "create data stream trading-default", "create role logstash_writer", "create user logstash_internal",
        "set the password of kibana_system"]
    # stored as Elasticsearch stores it: settings nested, strings; phases with min_age
    stored = cluster.component_templates["trading_logs_settings"]["template"]["settings"]
    assert stored == {"index": {"number_of_shards": "5", "number_of_replicas": "1", "refresh_interval": "5s",
                                "lifecycle": {"name": "trading_logs"}}}
    assert cluster.policies["trading_logs"]["phases"]["hot"]["min_age"] == "0ms"
    writes = len(cluster.writes)
    again = es.converge(cluster, **ALL)
    assert again == {"changed": False, "changes": [], "diff": {"before": {}, "after": {}}}
    assert len(cluster.writes) == writes


def test_check_mode_lists_the_changes_and_sends_nothing():
    cluster = FakeElasticsearch()
    planned = es.converge(cluster, **ALL, check_mode=True)
    assert planned["changed"] and len(planned["changes"]) == 8
    assert cluster.writes == []
    assert planned["diff"]["before"]["ilm_policy/trading_logs"] is None


def test_a_drifted_setting_is_shown_as_a_diff_and_repaired():
    cluster = FakeElasticsearch()
    es.converge(cluster, **ALL)
    cluster.component_templates["trading_logs_settings"]["template"]["settings"]["index"]["number_of_replicas"] = "2"
    cluster.policies["trading_logs"]["phases"]["delete"]["min_age"] = "30d"
    plan = es.converge(cluster, **ALL, check_mode=True)
    assert plan["changes"] == ["update ILM policy trading_logs", "update component template trading_logs_settings"]
    before = plan["diff"]["before"]["component_template/trading_logs_settings"]["template"]["settings"]
    after = plan["diff"]["after"]["component_template/trading_logs_settings"]["template"]["settings"]
    assert (before["index.number_of_replicas"], after["index.number_of_replicas"]) == ("2", "1")
    assert es.converge(cluster, **ALL)["changed"]
    assert not es.converge(cluster, **ALL)["changed"]


def test_passwords_are_checked_by_logging_in_and_never_appear_in_the_result():
    cluster = FakeElasticsearch()
    es.converge(cluster, **ALL)
    cluster.passwords["logstash_internal"] = "rotated-elsewhere"
    result = es.converge(cluster, **ALL)
    assert result["changes"] == ["set the password of logstash_internal"]
    assert cluster.passwords["logstash_internal"] == SECRET
    first = es.converge(FakeElasticsearch(), **ALL)
    assert SECRET not in json.dumps(first) and SECRET not in json.dumps(result)


def test_the_api_refusal_is_reported_with_its_reason():
    cluster = FakeElasticsearch()
    clash = copy.deepcopy(TEMPLATES[1])
    clash["name"], clash["body"]["index_patterns"] = "everything", ["*"]
    with pytest.raises(es.ApiError, match=r"PUT /_index_template/everything: HTTP 400: index template \[everything\]"):
        es.converge(cluster, index_templates=[TEMPLATES[1], clash])


def test_the_seed_resources_pass_the_input_rules():
    assert es.input_errors([POLICY], [COMPONENT], TEMPLATES) == []


@pytest.mark.parametrize(("change", "message"), [
    (lambda p, c, t: p["policy"]["phases"]["warm"].update(min_age="1d"),
     "ILM policy trading_logs: warm.min_age (1d) is earlier than the hot phase's rollover max_age (2d)"),
    (lambda p, c, t: p["policy"]["phases"]["delete"].update(min_age="20d"),
     "ILM policy trading_logs: phases out of order: delete.min_age (20d) is earlier than cold.min_age (30d)"),
    (lambda p, c, t: p["policy"]["phases"].update(lukewarm={}),
     "ILM policy trading_logs: unknown phase(s) lukewarm (allowed: hot, warm, cold, frozen, delete)"),
    (lambda p, c, t: p["policy"]["phases"]["cold"].update(min_age="a month"),
     "ILM policy trading_logs: cold.min_age 'a month' is not a time value"),
    (lambda p, c, t: c["body"]["template"]["settings"].update(number_of_shards=0),
     "component template trading_logs_settings: number_of_shards is 0; allowed: a whole number from 1 to 1024"),
    (lambda p, c, t: t[1]["body"].update(index_patterns=["sys*"]), None),
    (lambda p, c, t: t[1]["body"].update(index_patterns=["trading-fx*"]),
     "index templates trading_logs and system_logs: patterns trading-* and trading-fx* match the same indices "
     "at the same priority (200)"),
    (lambda p, c, t: t[1]["body"].update(index_patterns=["*-orders"]),
     "index templates trading_logs and system_logs: patterns trading-* and *-orders match the same indices"),
])
def test_each_input_rule_names_the_resource_the_value_and_what_is_allowed(change, message):
    policy, component, templates = copy.deepcopy(POLICY), copy.deepcopy(COMPONENT), copy.deepcopy(TEMPLATES)
    change(policy, component, templates)
    errors = es.input_errors([policy], [component], templates)
    if message is None:
        assert errors == []
    else:
        assert any(e.startswith(message) for e in errors), errors


def test_templates_at_different_priorities_may_overlap():
    templates = copy.deepcopy(TEMPLATES)
    templates[1]["body"].update(index_patterns=["*"], priority=1)
    assert es.input_errors([], [], templates) == []


def test_an_empty_composed_of_as_opensearch_stores_it_is_no_difference():
    # Seen on OpenSearch 2.19: GET _index_template returns "composed_of": [] for a template without it.
    declared = {"index_patterns": ["system-*"], "data_stream": {}, "priority": 200}
    assert es.normal_template({**declared, "composed_of": []}) == es.normal_template(declared)
    assert es.normal_template({**declared, "composed_of": ["a"]}) != es.normal_template(declared)
