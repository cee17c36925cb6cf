"""The elasticsearch_resources module run by Ansible against Elastic's API over HTTP (the labelled
stand-in of tests/unit/plugins/module_utils/fake_elasticsearch.py behind a loopback server):
check mode sends nothing, a converge then a no-op, bad input before any request, and no secret in
anything Ansible prints."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.unit.plugins.module_utils.fake_elasticsearch import FakeElasticsearch
from tests.unit.plugins.module_utils.test_elasticsearch import COMPONENT, POLICY, ROLE, TEMPLATES

ROOT = Path(__file__).resolve().parents[4]
ELASTIC_PASSWORD = "canary-elastic-7Hq2"
USER_PASSWORD = "canary-logstash-Vw81"


@pytest.fixture
def cluster(tmp_path):
    fake = FakeElasticsearch(elastic_password=ELASTIC_PASSWORD)
    fake.ansible_cfg = tmp_path / "ansible.cfg"  # Ansible's defaults, not the checkout's lab settings
    fake.ansible_cfg.write_text("[defaults]\n")
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            name, _, password = base64.b64decode(self.headers["Authorization"].split()[1]).decode().partition(":")
            requests.append(f"{self.command} {self.path}")
            if self.path != "/_security/_authenticate" and fake.passwords.get(name) != password:
                status, data = 401, {"error": {"type": "security_exception", "reason": "unable to authenticate"}}
            else:
                status, data = fake(self.command, self.path, body, (name, password))
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = _answer

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    fake.requests = requests
    yield fake
    server.shutdown()


def run_module(fake, args: dict, *flags: str) -> tuple[int, str]:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
           "ANSIBLE_CONFIG": str(fake.ansible_cfg), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "ANSIBLE_STDOUT_CALLBACK": "json"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", "-m", "bizra.infra.elasticsearch_resources",
         "-a", json.dumps({"url": fake.url, "password": ELASTIC_PASSWORD, **args}), *flags],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


ARGS = {"ilm_policies": [POLICY], "component_templates": [COMPONENT], "index_templates": TEMPLATES,
        "data_streams": ["trading-default"], "roles": [ROLE],
        "users": [{"name": "logstash_internal", "roles": ["logstash_writer"], "password": USER_PASSWORD}]}


def _result(output: str) -> dict:
    data = json.loads(output[output.index("{"):output.rindex("}") + 1])
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_check_then_converge_then_nothing_to_do_and_no_secret_printed(cluster):
    code, output = run_module(cluster, ARGS, "--check", "--diff")
    assert code == 0, output
    assert _result(output)["changed"] is True and cluster.writes == []
    assert "create user logstash_internal" in _result(output)["changes"]

    code, output = run_module(cluster, ARGS)
    assert code == 0, output
    assert len(_result(output)["changes"]) == 7 and cluster.passwords["logstash_internal"] == USER_PASSWORD
    code, again = run_module(cluster, ARGS, "--diff")
    assert code == 0, again
    assert _result(again)["changed"] is False
    for text in (output, again):
        assert ELASTIC_PASSWORD not in text and USER_PASSWORD not in text


def test_bad_input_fails_before_any_request(cluster):
    policy = json.loads(json.dumps(POLICY))
    policy["policy"]["phases"]["warm"]["min_age"] = "1d"
    code, output = run_module(cluster, {**ARGS, "ilm_policies": [policy]})
    assert code != 0
    assert "warm.min_age (1d) is earlier than the hot phase's rollover max_age (2d)" in _result(output)["msg"]
    assert cluster.requests == []


def test_a_wrong_password_is_the_clusters_answer_not_a_traceback(cluster):
    code, output = run_module(cluster, {**ARGS, "password": "wrong"})
    assert code != 0
    message = _result(output)["msg"]
    assert message.startswith(f"Elasticsearch at {cluster.url}: GET /_ilm/policy/trading_logs: HTTP 401")
    assert "Traceback" not in output
