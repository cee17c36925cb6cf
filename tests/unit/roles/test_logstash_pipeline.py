"""Logstash pipelines as data (role logstash), rendered by Ansible from the role's defaults: the
seed's trading pipeline (beats, grok/date/mutate/geoip, elasticsearch over TLS as its own user),
logstash.yml with the seed's workers and batch size, pipelines.yml. Logstash cannot be installed
here: its own check (--config.test_and_exit, run by the role before a pipeline replaces the
running one) never ran; these tests pin what it would be given."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.unit.roles.role_template import render_role_template

TRADING = {
    "name": "trading", "beats_port": 5044, "workers": 2, "index": "trading-app",
    "filters": [
        {"grok": {"match": {"message": ["%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:detail}"]}}},
        {"date": {"match": ["timestamp", "ISO8601"], "target": "@timestamp"}},
        {"mutate": {"remove_field": ["timestamp"], "lowercase": ["level"]}},
        {"geoip": {"source": "[client][ip]", "target": "[client][geo]"}},
    ],
}


def render(tmp_path: Path, template: str, **variables) -> str:
    return render_role_template("logstash", template, tmp_path / "out", {
        "logstash_elasticsearch_hosts": ["https://10.20.4.11:9200", "https://10.20.4.12:9200"],
        "logstash_pipelines": [TRADING], "item": TRADING, **variables})


def body(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


def test_the_trading_pipeline_in_logstash_syntax(tmp_path):
    assert body(render(tmp_path, "etc/logstash/conf.d/pipeline.conf.j2")) == '''\
input {
  beats {
    id => "trading_beats"
    port => 5044
  }
}

filter {
  grok {
    match => { "message" => [ "%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:detail}" ] }
  }
  date {
    match => [ "timestamp", "ISO8601" ]
    target => "@timestamp"
  }
  mutate {
    remove_field => [ "timestamp" ]
    lowercase => [ "level" ]
  }
  geoip {
    source => "[client][ip]"
    target => "[client][geo]"
  }
}

output {
  elasticsearch {
    id => "trading_elasticsearch"
    hosts => [ "https://10.20.4.11:9200", "https://10.20.4.12:9200" ]
    ssl_enabled => true
    ssl_certificate_authorities => [ "/etc/logstash/certs/ca.crt" ]
    ssl_verification_mode => "full"
    user => "logstash_internal"
    password => "${LOGSTASH_ELASTICSEARCH_PASSWORD}"
    index => "trading-app"
    action => "create"
  }
}'''


def test_no_password_is_written_into_a_pipeline(tmp_path):
    text = render(tmp_path, "etc/logstash/conf.d/pipeline.conf.j2", logstash_elasticsearch_password="canary-9f3e1d")
    assert "canary-9f3e1d" not in text


def test_the_seed_workers_and_batch_size(tmp_path):
    settings = yaml.safe_load(render(tmp_path, "etc/logstash/logstash.yml.j2"))
    assert (settings["pipeline.workers"], settings["pipeline.batch.size"]) == (4, 1000)
    assert settings["config.reload.automatic"] is True
    pipelines = yaml.safe_load(render(tmp_path, "etc/logstash/pipelines.yml.j2"))
    assert pipelines == [{"pipeline.id": "trading", "path.config": "/etc/logstash/conf.d/trading.conf",
                          "pipeline.workers": 2}]
