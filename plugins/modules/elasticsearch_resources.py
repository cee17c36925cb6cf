#!/usr/bin/python
"""Elasticsearch 8: ILM policies, component and index templates, data streams, security roles and
users as data, through the HTTP API."""

from __future__ import annotations

DOCUMENTATION = r"""
module: elasticsearch_resources
short_description: Elasticsearch ILM policies, templates, data streams, roles and users as data
description:
  - Makes the cluster match the declared resources through the HTTP API, in dependency order
    (policies, component templates, index templates, data streams, roles, users).
  - Compares each declared body with what the cluster stores (settings flattened with string
    values, phase defaults), so a converged cluster reports no change. Supports check mode and
    diff mode (before and after of each changed resource).
  - Passwords are never read back or shown. A user's password is checked by authenticating as the
    user and set only when that fails; built-in users (C(builtin), e.g. kibana_system) get only
    their password.
  - Refuses, before sending anything, ILM phases out of order, shard counts out of range and index
    templates whose patterns overlap at the same priority.
options:
  url: {description: Base URL of one node's HTTP API., type: str, default: "https://127.0.0.1:9200"}
  user: {description: User to act as (C(elastic) or one with manage_security, manage_ilm and
         manage_index_templates)., type: str, default: elastic}
  password: {description: "Its password; none for a cluster without security (no Authorization header).", type: str,
             no_log: true}
  validate_only: {description: Only check the declared resources (no request is sent)., type: bool, default: false}
  ca_path: {description: CA certificate of the cluster's HTTP TLS., type: path}
  ilm_policies: {description: "Each C(name) and C(policy) (the body's C(policy) object).", type: list,
                 elements: dict, default: []}
  component_templates: {description: Each C(name) and C(body)., type: list, elements: dict, default: []}
  index_templates: {description: Each C(name) and C(body)., type: list, elements: dict, default: []}
  data_streams: {description: Names of data streams to create (a matching template must have
                 C(data_stream))., type: list, elements: str, default: []}
  roles: {description: Each C(name) and C(body) (cluster and index privileges)., type: list, elements: dict,
          default: []}
  users:
    description: Users, or built-in users (only their password is set).
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: User name., type: str, required: true}
      password: {description: Its password (Vault)., type: str, required: true, no_log: true}
      builtin: {description: A built-in user (elastic, kibana_system, logstash_system...)., type: bool, default: false}
      roles: {description: Its roles., type: list, elements: str}
      full_name: {description: Full name., type: str}
      email: {description: E-mail address., type: str}
      enabled: {description: Whether it may log in., type: bool}
      metadata: {description: Arbitrary metadata., type: dict}
author: bizra SRE
"""

EXAMPLES = r"""
- name: Logging resources
  bizra.infra.elasticsearch_resources:
    password: "{{ vault_elasticsearch_elastic_password }}"
    ca_path: /etc/elasticsearch/certs/ca.crt
    ilm_policies: "{{ elasticsearch_ilm_policies }}"
    index_templates: "{{ elasticsearch_index_templates }}"
"""

RETURN = r"""
changes: {description: What was (or, in check mode, would be) changed; never a secret., type: list, returned: always}
"""

import base64
from urllib.error import URLError

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bizra.infra.plugins.module_utils.elasticsearch import ApiError, converge, input_errors
from ansible_collections.bizra.infra.plugins.module_utils.http_json import json_request


def http_request(base: str, user: str, password: str | None, ca_path: str | None):
    def request(method: str, path: str, body: dict | None, auth=None):
        name, secret = auth or (user, password)
        headers = {}
        if secret is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()
        return json_request(base.rstrip("/") + path, method, headers, body,
                            timeout=60, text_key="error", text_limit=500, ca_path=ca_path, validate_certs=True)
    return request


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "default": "https://127.0.0.1:9200"},
        "user": {"type": "str", "default": "elastic"},
        "password": {"type": "str", "no_log": True},
        "validate_only": {"type": "bool", "default": False},
        "ca_path": {"type": "path"},
        "ilm_policies": {"type": "list", "elements": "dict", "default": []},
        "component_templates": {"type": "list", "elements": "dict", "default": []},
        "index_templates": {"type": "list", "elements": "dict", "default": []},
        "data_streams": {"type": "list", "elements": "str", "default": []},
        "roles": {"type": "list", "elements": "dict", "default": []},
        "users": {"type": "list", "elements": "dict", "default": [], "options": {
            "name": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "builtin": {"type": "bool", "default": False},
            "roles": {"type": "list", "elements": "str"},
            "full_name": {"type": "str"},
            "email": {"type": "str"},
            "enabled": {"type": "bool"},
            "metadata": {"type": "dict"},
        }},
    }, supports_check_mode=True)
    p = module.params
    problems = input_errors(p["ilm_policies"], p["component_templates"], p["index_templates"])
    if problems:
        module.fail_json(msg="; ".join(problems), changes=[])
    if p["validate_only"]:
        module.exit_json(changed=False, changes=[])
    # Suboptions not given come as None: a user declares only what it sets.
    users = [{key: value for key, value in user.items() if value is not None} for user in p["users"]]
    try:
        result = converge(http_request(p["url"], p["user"], p["password"], p["ca_path"]),
                          policies=p["ilm_policies"], component_templates=p["component_templates"],
                          index_templates=p["index_templates"], data_streams=p["data_streams"], roles=p["roles"],
                          users=users, check_mode=module.check_mode)
    except (ApiError, URLError, OSError, ValueError, KeyError) as exc:
        module.fail_json(msg=f"Elasticsearch at {p['url']}: {exc}", changes=[])
    module.exit_json(changed=result["changed"], changes=result["changes"], diff=result["diff"])


if __name__ == "__main__":
    main()
