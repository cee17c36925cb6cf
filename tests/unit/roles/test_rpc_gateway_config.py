"""The rpc_gateway role's HAProxy and ModSecurity configurations and its input checks.

Rendered by Ansible as the role renders them; haproxy -c and nginx -t check them on the lab's
gateway, and the geth scenario sends real traffic through them (the WebSocket message limit,
ModSecurity's refusals)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.unit.roles.role_template import render_role_template, run_role_validate


def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "children": {"rpc_gateways": {"hosts": {"gw1": {"ansible_host": "10.0.0.30"}}},
                     "geth": {"hosts": {"geth1": {"geth_rpc_address": "10.0.0.11"},
                                        "geth2": {"geth_rpc_address": "10.0.0.12"}}}}}}), encoding="utf-8")
    return path


def render(tmp_path: Path, template: str, extra: dict | None = None) -> str:
    variables = {"rpc_gateway_allowed_sources": ["10.0.1.0/24"], **(extra or {})}
    return render_role_template("rpc_gateway", template, tmp_path / Path(template).name, variables, host="gw1",
                                inventory=inventory(tmp_path))


def validate(tmp_path: Path, extra: dict) -> subprocess.CompletedProcess:
    return run_role_validate("rpc_gateway", "gw1", inventory(tmp_path),
                             {"rpc_gateway_allowed_sources": ["10.0.1.0/24"], **extra}, tmp_path)


def section(config: str, header: str) -> str:
    """One section of haproxy.cfg: from its header to the next blank line."""
    return config[config.index("\n" + header + "\n") + 1:].split("\n\n", 1)[0]


def test_websocket_connections_go_through_the_message_limit_relay_and_back_to_the_nodes(tmp_path):
    config = render(tmp_path, "etc/haproxy/haproxy.cfg.j2")
    assert "default_backend ws_message_limit" in section(config, "frontend rpc_wss")
    relay = section(config, "backend ws_message_limit")
    assert "option forwardfor" in relay and "server relay 127.0.0.1:8405 " in relay
    nodes = section(config, "frontend ws_nodes")
    assert "bind 127.0.0.1:8406" in nodes and "default_backend geth_ws" in nodes
    servers = section(config, "backend geth_ws")
    assert "server geth1 10.0.0.11:8546 check" in servers and "server geth2 10.0.0.12:8546 check" in servers
    # Without ModSecurity, HTTP goes straight to the nodes.
    assert "default_backend geth_http" in section(config, "frontend rpc_https")
    assert "backend modsecurity" not in config and "frontend http_nodes" not in config


def test_with_modsecurity_http_goes_through_it_and_back_to_the_nodes(tmp_path):
    config = render(tmp_path, "etc/haproxy/haproxy.cfg.j2", {"rpc_gateway_modsecurity": True})
    assert "default_backend modsecurity" in section(config, "frontend rpc_https")
    waf = section(config, "backend modsecurity")
    assert "option forwardfor" in waf and "server modsecurity 127.0.0.1:8407 " in waf
    nodes = section(config, "frontend http_nodes")
    assert "bind 127.0.0.1:8408" in nodes and "default_backend geth_http" in nodes
    # Both hops count against HAProxy's own limit: 2 x 1,000 HTTP + 2 x 1,000 WebSocket + headroom.
    assert "maxconn 4300\n" in section(config, "global")


def test_the_relay_unit_carries_the_limit(tmp_path):
    unit = render(tmp_path, "etc/systemd/system/bizra-ws-message-limit.service.j2",
                  {"rpc_gateway_max_ws_message_bytes": 32768})
    assert ("ExecStart=/usr/local/bin/bizra-ws-message-limit --listen 127.0.0.1:8405 "
            "--upstream ws://127.0.0.1:8406 --max-message-bytes 32768") in unit
    assert "DynamicUser=true" in unit and "LimitNOFILE=3224" in unit


def test_modsecurity_runs_the_crs_at_the_paranoia_level_with_the_json_rpc_tuning(tmp_path):
    config = render(tmp_path, "etc/nginx/bizra-modsecurity.conf.j2", {"rpc_gateway_modsecurity": True})
    assert "SecRuleEngine On" in config
    assert "setvar:tx.paranoia_level=2" in config
    assert "Include /usr/share/modsecurity-crs/rules/*.conf" in config
    assert 'SecRuleUpdateTargetById 942450 "!ARGS"' in config
    assert "SecRuleRemoveById 913101 920300 920320" in config
    # seed 001: 1 MB bodies, JSON 5 levels deep with at most 100 values
    assert "SecRequestBodyNoFilesLimit 1048576" in config and "client_max_body_size 1048576;" in config
    assert "SecRequestBodyJsonDepthLimit 5" in config
    assert "SecArgumentsLimit 101" in config and 'SecRule &ARGS "@gt 100"' in config
    assert "listen 127.0.0.1:8407;" in config and "proxy_pass http://127.0.0.1:8408;" in config


def test_modsecurity_in_detection_only_with_no_rule_removed(tmp_path):
    config = render(tmp_path, "etc/nginx/bizra-modsecurity.conf.j2",
                    {"rpc_gateway_modsecurity": True, "rpc_gateway_modsecurity_blocking": False,
                     "rpc_gateway_modsecurity_paranoia_level": 3, "rpc_gateway_modsecurity_removed_rule_ids": []})
    assert "SecRuleEngine DetectionOnly" in config
    assert "setvar:tx.paranoia_level=3" in config
    assert "SecRuleRemoveById" not in config


def test_the_defaults_pass_the_checks(tmp_path):
    done = validate(tmp_path, {"rpc_gateway_modsecurity": True})
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("extra", "messages"), [
    ({"rpc_gateway_modsecurity_paranoia_level": 5},
     ["value of rpc_gateway_modsecurity_paranoia_level must be one of: 1, 2, 3, 4, got: 5"]),
    ({"rpc_gateway_modsecurity_removed_rule_ids": [920300, 949110, 0], "rpc_gateway_max_ws_message_bytes": 67108864,
      "rpc_gateway_modsecurity_json_max_depth": 0},
     ["rpc_gateway_modsecurity_removed_rule_ids must keep 949110, the rule that refuses requests",
      "rpc_gateway_modsecurity_removed_rule_ids 920300, 949110, 0 must be CRS rule ids",
      "rpc_gateway_max_ws_message_bytes 67108864 is above 33554432, the most geth itself reads",
      "rpc_gateway_modsecurity_json_max_depth must be a positive number, got '0'"]),
])
def test_bad_input_is_refused_naming_the_variable(tmp_path, extra, messages):
    done = validate(tmp_path, extra)
    assert done.returncode != 0
    flat = " ".join(done.stdout.split())
    assert [message for message in messages if message not in flat] == [], flat[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
