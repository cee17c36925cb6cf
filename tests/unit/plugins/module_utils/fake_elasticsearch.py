"""TEST STAND-IN, never shipped: an in-memory model of the parts of Elasticsearch 8's HTTP API the
bizra.infra.elasticsearch_resources module uses (ILM policies, component and index templates, data
streams, security roles and users, _authenticate), built from Elastic's documented requests and
responses, for what OpenSearch (the lab's real engine) does differently or lacks: ILM (OpenSearch
has ISM) and security (OpenSearch has `_plugins/_security`).

It answers as Elasticsearch documents it: settings come back nested under ``index`` with string
values, a phase without ``min_age`` comes back with ``0ms``, a template's ``data_stream`` with its
``hidden`` and ``allow_custom_routing`` flags, roles come back with their defaults,
a missing resource is a 404 with an ``error`` object, two index templates whose patterns overlap
at the same priority are refused (400), a data stream needs a matching template with
``data_stream``. Passwords are kept only to answer ``_authenticate``.
"""

from __future__ import annotations

import copy
import re
from urllib.parse import unquote


def _nest(flat: dict[str, str]) -> dict:
    nested: dict = {}
    for key, value in flat.items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _flat(settings: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _stored_settings(settings: dict) -> dict:
    flat = {(k if k.startswith("index.") else f"index.{k}"): v for k, v in _flat(settings).items()}
    return _nest(flat)


def _stored_template(body: dict) -> dict:
    """A component or index template as it is kept: its settings nested, values as strings."""
    template = body.get("template") or {}
    if "settings" in template:
        template["settings"] = _stored_settings(template["settings"])
    return body


def _glob(pattern: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def _not_found(kind: str, name: str) -> tuple[int, dict]:
    return 404, {"error": {"type": "resource_not_found_exception", "reason": f"{kind} [{name}] not found"},
                 "status": 404}


def _bad(reason: str) -> tuple[int, dict]:
    return 400, {"error": {"type": "illegal_argument_exception", "reason": reason}, "status": 400}


class FakeElasticsearch:
    BUILTIN_USERS = ("elastic", "kibana_system", "logstash_system", "beats_system", "remote_monitoring_user")

    def __init__(self, elastic_password: str = "changeme") -> None:
        self.policies: dict[str, dict] = {}
        self.component_templates: dict[str, dict] = {}
        self.index_templates: dict[str, dict] = {}
        self.data_streams: dict[str, dict] = {}
        self.roles: dict[str, dict] = {}
        self.users: dict[str, dict] = {name: {"username": name, "roles": ["superuser"] if name == "elastic" else [],
                                              "full_name": None, "email": None, "metadata": {"_reserved": True},
                                              "enabled": True} for name in self.BUILTIN_USERS}
        self.passwords: dict[str, str] = {name: elastic_password for name in self.BUILTIN_USERS}
        self.writes: list[tuple[str, str]] = []
        self.policy_version: dict[str, int] = {}

    # the transport the module's code is given: request(method, path, body, auth) -> (status, json)
    def __call__(self, method: str, path: str, body: dict | None = None, auth=None):
        if method != "GET":
            self.writes.append((method, path))
        parts = [unquote(p) for p in path.split("?")[0].strip("/").split("/")]
        handler = {
            "_ilm": self._ilm, "_component_template": self._component_template,
            "_index_template": self._index_template, "_data_stream": self._data_stream,
            "_security": self._security,
        }.get(parts[0])
        if handler is None:
            return 400, {"error": {"type": "no_handler", "reason": f"no handler for {method} {path}"}}
        return handler(method, parts[1:], copy.deepcopy(body), auth)

    def _ilm(self, method, parts, body, _auth):
        name = parts[1]
        if method == "GET":
            if name not in self.policies:
                return _not_found("policy", name)
            return 200, {name: {"version": self.policy_version[name], "modified_date": "2026-12-06T00:00:00.000Z",
                                "policy": copy.deepcopy(self.policies[name]), "in_use_by": {}}}
        policy = body["policy"]
        for phase in policy.get("phases", {}).values():
            phase.setdefault("min_age", "0ms")
            phase.setdefault("actions", {})
        self.policies[name] = policy
        self.policy_version[name] = self.policy_version.get(name, 0) + 1
        return 200, {"acknowledged": True}

    def _component_template(self, method, parts, body, _auth):
        name = parts[0]
        if method == "GET":
            if name not in self.component_templates:
                return _not_found("component template matching", name)
            return 200, {"component_templates": [{"name": name,
                                                  "component_template": copy.deepcopy(self.component_templates[name])}]}
        self.component_templates[name] = _stored_template(body)
        return 200, {"acknowledged": True}

    def _index_template(self, method, parts, body, _auth):
        name = parts[0]
        if method == "GET":
            if name not in self.index_templates:
                return _not_found("index template matching", name)
            stored = copy.deepcopy(self.index_templates[name])
            return 200, {"index_templates": [{"name": name, "index_template": stored}]}
        for other, existing in self.index_templates.items():
            if other == name or existing.get("priority", 0) != body.get("priority", 0):
                continue
            for pattern in body.get("index_patterns", []):
                for theirs in existing.get("index_patterns", []):
                    if _glob(pattern).match(theirs.replace("*", "x")) or _glob(theirs).match(pattern.replace("*", "x")):
                        return _bad(f"index template [{name}] has index patterns {body['index_patterns']} matching "
                                    f"patterns from existing templates [{other}] with patterns ({other} => "
                                    f"{existing['index_patterns']}) that have the same priority "
                                    f"[{body.get('priority', 0)}], multiple index templates may not match during "
                                    "index creation, please use a different priority")
        for composed in body.get("composed_of", []):
            if composed not in self.component_templates:
                return _bad(f"index template [{name}] specifies component templates [{composed}] that do not exist")
        if "data_stream" in body:  # stored with its flags, as GET shows them
            body["data_stream"] = {"hidden": False, "allow_custom_routing": False, **(body["data_stream"] or {})}
        self.index_templates[name] = _stored_template(body)
        return 200, {"acknowledged": True}

    def _data_stream(self, method, parts, _body, _auth):
        name = parts[0]
        if method == "GET":
            if name not in self.data_streams:
                return 404, {"error": {"type": "index_not_found_exception", "reason": f"no such index [{name}]"},
                             "status": 404}
            return 200, {"data_streams": [copy.deepcopy(self.data_streams[name])]}
        matching = [t for t, body in self.index_templates.items() if "data_stream" in body
                    and any(_glob(p).match(name) for p in body.get("index_patterns", []))]
        if not matching:
            return _bad(f"no matching index template found for data stream [{name}]")
        self.data_streams[name] = {"name": name, "template": matching[0], "generation": 1, "status": "GREEN"}
        return 200, {"acknowledged": True}

    def _security(self, method, parts, body, auth):
        if parts[0] == "_authenticate":
            user, password = auth or (None, None)
            if user in self.users and self.passwords.get(user) == password and self.users[user]["enabled"]:
                return 200, {"username": user, "roles": self.users[user]["roles"]}
            return 401, {"error": {"type": "security_exception", "reason": "unable to authenticate user"},
                         "status": 401}
        kind, name = parts[0], parts[1]
        if kind == "role":
            if method == "GET":
                if name not in self.roles:
                    return 404, {}
                return 200, {name: copy.deepcopy(self.roles[name])}
            role = {"cluster": body.get("cluster", []), "applications": body.get("applications", []),
                    "run_as": body.get("run_as", []), "metadata": body.get("metadata", {}),
                    "transient_metadata": {"enabled": True},
                    "indices": [{"allow_restricted_indices": False, **entry} for entry in body.get("indices", [])]}
            created = name not in self.roles
            self.roles[name] = role
            return 200, {"role": {"created": created}}
        if kind == "user":
            if method == "GET":
                if name not in self.users:
                    return 404, {}
                return 200, {name: copy.deepcopy(self.users[name])}
            if len(parts) == 3 and parts[2] == "_password":
                if name not in self.users:
                    return _not_found("user", name)
                self.passwords[name] = body["password"]
                return 200, {}
            if name in self.BUILTIN_USERS:
                return _bad(f"user [{name}] is reserved and only the password can be changed")
            created = name not in self.users
            if created and not body.get("password"):
                return _bad("Validation Failed: 1: password must be specified unless you are updating an "
                            "existing user;")
            if body.get("password"):
                self.passwords[name] = body["password"]
            self.users[name] = {"username": name, "roles": body.get("roles", []), "full_name": body.get("full_name"),
                                "email": body.get("email"), "metadata": body.get("metadata", {}),
                                "enabled": body.get("enabled", True)}
            return 200, {"created": created}
        return 400, {"error": {"type": "no_handler", "reason": f"no handler for {method} /_security/{kind}"}}
