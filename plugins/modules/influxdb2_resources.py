#!/usr/bin/python
"""InfluxDB 2.x: initial setup, buckets with retention, downsampling tasks and tokens, from the
same database/retention policy/continuous query data as the 1.x path."""

from __future__ import annotations

DOCUMENTATION = r"""
module: influxdb2_resources
short_description: InfluxDB 2.x org, buckets, downsampling tasks and tokens as data
description:
  - Runs the initial setup when the server has none (user, org, the operator token given).
  - Buckets C(<database>/<policy>) with the policies' retention and shard group durations,
    one Flux task per continuous query (aggregateWindow into the target bucket), and a token
    per user with read/write on its databases' buckets, written to I(token_dir) (root only).
  - Idempotent through the HTTP API; supports check mode.
options:
  url: {description: Base URL of the API., type: str, default: "http://127.0.0.1:8086"}
  token: {description: The operator token (all access)., type: str, required: true, no_log: true}
  org: {description: Organisation., type: str, required: true}
  username: {description: Initial user for the setup., type: str, required: true}
  password: {description: Its password., type: str, required: true, no_log: true}
  databases: {description: Databases with retention_policies and continuous_queries (the 1.x data)., type: list,
              elements: dict, default: []}
  users: {description: Users with grants (database, privilege READ/WRITE/ALL)., type: list, elements: dict,
          default: []}
  token_dir: {description: Directory of the users' token files., type: path, default: /etc/influxdb/tokens}
author: bizra SRE
"""

EXAMPLES = r"""
- name: Buckets, tasks and tokens
  bizra.infra.influxdb2_resources:
    token: "{{ influxdb_v2_operator_token }}"
    org: bizra
    username: admin
    password: "{{ vault_influxdb_admin_password }}"
    databases: "{{ influxdb_databases }}"
    users: "{{ influxdb_users }}"
"""

RETURN = r"""
changes: {description: What was (or, in check mode, would be) changed., type: list, returned: always}
"""

import os
from urllib.parse import urlencode

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bizra.infra.plugins.module_utils.http_json import json_request
from ansible_collections.bizra.infra.plugins.module_utils.influxdb2 import ApiError, buckets_from, converge


def http_request(base: str, token: str | None):
    def request(method: str, path: str, params: dict, body: dict | None):
        url = base.rstrip("/") + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Authorization": f"Token {token}"} if token else {}
        return json_request(url, method, headers, body, timeout=30, text_key="message")
    return request


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "default": "http://127.0.0.1:8086"},
        "token": {"type": "str", "required": True, "no_log": True},
        "org": {"type": "str", "required": True},
        "username": {"type": "str", "required": True},
        "password": {"type": "str", "required": True, "no_log": True},
        "databases": {"type": "list", "elements": "dict", "default": []},
        "users": {"type": "list", "elements": "dict", "default": [], "no_log": True},
        "token_dir": {"type": "path", "default": "/etc/influxdb/tokens"},
    }, supports_check_mode=True)
    p = module.params
    changes = []
    try:
        setup = http_request(p["url"], None)("GET", "/api/v2/setup", {}, None)[1]
        if setup.get("allowed"):
            changes.append(f"initial setup (org {p['org']}, user {p['username']})")
            if module.check_mode:
                module.exit_json(changed=True, changes=changes + ["and everything declared"])
            first = (buckets_from(p["databases"]) or [{"name": "default"}])[0]["name"]
            status, data = http_request(p["url"], None)("POST", "/api/v2/setup", {}, {
                "username": p["username"], "password": p["password"], "org": p["org"], "bucket": first,
                "token": p["token"]})
            if status not in (200, 201):
                raise ApiError(f"setup: HTTP {status}: {data.get('message', data)}")
        result = converge(http_request(p["url"], p["token"]), p["org"], p["databases"], p["users"], module.check_mode)
    except (ApiError, OSError, ValueError, KeyError) as exc:
        module.fail_json(msg=f"InfluxDB 2.x at {p['url']}: {exc}", changes=changes)
    for user, token in result["tokens"].items():
        os.makedirs(p["token_dir"], mode=0o700, exist_ok=True)
        path = os.path.join(p["token_dir"], user)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
    module.exit_json(changed=bool(changes or result["changed"]), changes=changes + result["changes"])


if __name__ == "__main__":
    main()
