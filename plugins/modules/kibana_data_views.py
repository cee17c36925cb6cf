#!/usr/bin/python
"""Kibana 8 data views as data, through Kibana's HTTP API."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kibana_data_views
short_description: Kibana data views (index patterns) as data
description:
  - Makes Kibana's data views match the declared ones, matched by title (the index pattern); a
    missing one is created, one whose name or time field differs is updated. Views not declared
    are left alone.
  - Supports check mode and diff mode.
options:
  url: {description: "Kibana's base URL.", type: str, default: "https://127.0.0.1:5601"}
  user: {description: A user allowed to manage data views., type: str, default: elastic}
  password: {description: Its password., type: str, required: true, no_log: true}
  ca_path: {description: CA certificate of Kibana's TLS., type: path}
  data_views:
    description: The data views.
    type: list
    elements: dict
    required: true
    suboptions:
      title: {description: The index pattern (e.g. C(trading-*))., type: str, required: true}
      name: {description: Display name (default the title)., type: str}
      time_field: {description: Time field., type: str, default: "@timestamp"}
author: bizra SRE
"""

EXAMPLES = r"""
- name: The seed's data views
  bizra.infra.kibana_data_views:
    url: https://kibana-fra-1:5601
    password: "{{ vault_elasticsearch_elastic_password }}"
    ca_path: /etc/kibana/certs/ca.crt
    data_views: [{title: "trading-*"}, {title: "system-*"}, {title: "security-*"}]
"""

RETURN = r"""
changes: {description: What was (or, in check mode, would be) changed., type: list, returned: always}
"""

import base64
from urllib.error import URLError

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bizra.infra.plugins.module_utils.http_json import json_request
from ansible_collections.bizra.infra.plugins.module_utils.kibana import ApiError, converge, input_errors


def http_request(base: str, user: str, password: str, ca_path: str | None):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()

    def request(method: str, path: str, body: dict | None):
        return json_request(base.rstrip("/") + path, method, {"Authorization": f"Basic {token}", "kbn-xsrf": "true"},
                            body, timeout=30, text_key="message", text_limit=500, ca_path=ca_path,
                            validate_certs=True)
    return request


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "default": "https://127.0.0.1:5601"},
        "user": {"type": "str", "default": "elastic"},
        "password": {"type": "str", "required": True, "no_log": True},
        "ca_path": {"type": "path"},
        "data_views": {"type": "list", "elements": "dict", "required": True, "options": {
            "title": {"type": "str", "required": True},
            "name": {"type": "str"},
            "time_field": {"type": "str", "default": "@timestamp"},
        }},
    }, supports_check_mode=True)
    p = module.params
    problems = input_errors(p["data_views"])
    if problems:
        module.fail_json(msg="; ".join(problems), changes=[])
    try:
        result = converge(http_request(p["url"], p["user"], p["password"], p["ca_path"]), p["data_views"],
                          check_mode=module.check_mode)
    except (ApiError, URLError, OSError, ValueError, KeyError) as exc:
        module.fail_json(msg=f"Kibana at {p['url']}: {exc}", changes=[])
    module.exit_json(changed=result["changed"], changes=result["changes"], diff=result["diff"])


if __name__ == "__main__":
    main()
