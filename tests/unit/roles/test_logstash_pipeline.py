"""Logstash pipelines as data (role logstash), rendered by Ansible from the role's defaults: the
seed's trading pipeline (beats, grok/date/mutate/geoip, elasticsearch over TLS as its own user),
logstash.yml with the seed's workers and batch size, pipelines.yml. Logstash cannot be installed
here: its own check (--config.test_and_exit, run by the role before a pipeline replaces the
running one) never ran; these tests pin what it would be given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "logstash"
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
    dest = tmp_path / "out"
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-i", "localhost,",
         "-e", "ansible_python_interpreter={{ ansible_playbook_python }}",
         "-e", f"@{ROLE / 'defaults' / 'main.yml'}", "-e", f"@{ROLE / 'vars' / 'main.yml'}",
         "-e", json.dumps({"logstash_elasticsearch_hosts": ["https://10.20.4.11:9200", "https://10.20.4.12:9200"],
                           "logstash_pipelines": [TRADING], "item": TRADING, **variables}),
         "-m", "ansible.builtin.template",
         "-a", json.dumps({"src": str(ROLE / "templates" / template), "dest": str(dest)})],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return dest.read_text()


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
