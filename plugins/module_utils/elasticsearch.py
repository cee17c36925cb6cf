"""Elasticsearch 8 resources as data, through the HTTP API (plain HTTP requests: Elastic's Python
client refuses servers that are not Elastic's, and the lab's engine is OpenSearch).

`Converger` makes the cluster match: ILM policies, component and index templates, data streams,
security roles and users. Every comparison is between the declared body and what the server
returns for it, normalised the way Elasticsearch stores it (index settings flattened under
``index.`` with string values, a phase's ``min_age`` defaulting to ``0ms``), so a converged
cluster reports no change. Passwords are never read back: a user's password is checked by
authenticating as the user, and only set when that fails. Nothing secret enters a change text.

`input_errors` finds what Elasticsearch would refuse or what would silently misbehave, before
anything is sent: ILM phases out of order, shard counts out of range, two index templates whose
patterns overlap at the same priority.
"""

from __future__ import annotations

import itertools
import json
import re
from urllib.parse import quote

PHASE_ORDER = ("hot", "warm", "cold", "frozen", "delete")
DURATION = re.compile(r"^([0-9]+)(nanos|micros|ms|s|m|h|d)$")
DURATION_SECONDS = {"nanos": 1e-9, "micros": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SHARDS = 1024


class ApiError(RuntimeError):
    pass


def seconds(duration: str) -> float:
    """An Elasticsearch time value (``2d``, ``90d``, ``0ms``) in seconds; ValueError otherwise."""
    match = DURATION.match(str(duration).strip())
    if not match:
        raise ValueError(f"{duration!r} is not a time value (e.g. 2d, 12h, 30m)")
    return int(match.group(1)) * DURATION_SECONDS[match.group(2)]


# ---- what the server stores --------------------------------------------------------------------

def flat_settings(settings: dict | None, prefix: str = "") -> dict[str, str]:
    """Settings flattened to dotted keys under ``index.``, values as strings (as GET returns them)."""
    flat: dict[str, str] = {}
    for key, value in (settings or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_settings(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else str(value).lower() \
                if isinstance(value, bool) else str(value)
    if prefix:
        return flat
    return {(k if k.startswith("index.") else f"index.{k}"): v for k, v in flat.items()}


# What a server adds to a template's data_stream object when it stores it: Elasticsearch 8 the two
# flags, OpenSearch the timestamp field.
DATA_STREAM_DEFAULTS = {"hidden": False, "allow_custom_routing": False, "timestamp_field": {"name": "@timestamp"}}


def normal_template(body: dict) -> dict:
    """An index or component template body in the form compared: settings flat, the rest as JSON."""
    template = dict(body.get("template") or {})
    if "settings" in template:
        template["settings"] = flat_settings(template["settings"])
    out = {key: value for key, value in body.items() if key not in ("template", "name")}
    if not out.get("composed_of", True):  # OpenSearch stores an empty list where none was given
        del out["composed_of"]
    if "data_stream" in out:
        out["data_stream"] = {**DATA_STREAM_DEFAULTS, **(out["data_stream"] or {})}
    if template:
        out["template"] = template
    return json.loads(json.dumps(out, sort_keys=True))


def normal_policy(policy: dict) -> dict:
    phases = {}
    for name, phase in (policy.get("phases") or {}).items():
        phases[name] = {"min_age": phase.get("min_age", "0ms"), "actions": phase.get("actions") or {}}
    out = {"phases": phases}
    if policy.get("_meta"):
        out["_meta"] = policy["_meta"]
    return json.loads(json.dumps(out, sort_keys=True))


ROLE_DEFAULTS = {"cluster": [], "indices": [], "applications": [], "run_as": [], "metadata": {}}
INDEX_PRIVILEGE_DEFAULTS = {"allow_restricted_indices": False}


def normal_role(role: dict) -> dict:
    out = {key: role.get(key, default) for key, default in ROLE_DEFAULTS.items()}
    out["indices"] = [{**INDEX_PRIVILEGE_DEFAULTS, **entry} for entry in out["indices"]]
    return json.loads(json.dumps(out, sort_keys=True))


USER_FIELDS = ("roles", "full_name", "email", "metadata", "enabled")
USER_DEFAULTS = {"roles": [], "full_name": None, "email": None, "metadata": {}, "enabled": True}


def normal_user(user: dict) -> dict:
    return {key: sorted(user.get(key) or []) if key == "roles" else user.get(key, USER_DEFAULTS[key])
            for key in USER_FIELDS}


# ---- checks before anything is sent --------------------------------------------------------------

def _patterns_overlap(first: str, second: str) -> bool:
    """Whether two index patterns (``*`` wildcards) can match the same index name."""
    memo: dict[tuple[int, int], bool] = {}

    def overlap(i: int, j: int) -> bool:
        if (i, j) in memo:
            return memo[(i, j)]
        if i == len(first) and j == len(second):
            result = True
        elif i < len(first) and first[i] == "*":
            result = overlap(i + 1, j) or (j < len(second) and overlap(i, j + 1))
        elif j < len(second) and second[j] == "*":
            result = overlap(i, j + 1) or (i < len(first) and overlap(i + 1, j))
        else:
            result = i < len(first) and j < len(second) and first[i] == second[j] and overlap(i + 1, j + 1)
        memo[(i, j)] = result
        return result

    return overlap(0, 0)


def _policy_errors(policy: dict) -> list[str]:
    name = policy.get("name", "?")
    errors = []
    phases = (policy.get("policy") or {}).get("phases") or {}
    unknown = sorted(set(phases) - set(PHASE_ORDER))
    if unknown:
        errors.append(f"ILM policy {name}: unknown phase(s) {', '.join(unknown)} (allowed: {', '.join(PHASE_ORDER)})")
    ages: list[tuple[str, float]] = []
    for phase in (p for p in PHASE_ORDER if p in phases):
        text = (phases[phase] or {}).get("min_age", "0ms")
        try:
            ages.append((phase, seconds(text)))
        except ValueError as exc:
            errors.append(f"ILM policy {name}: {phase}.min_age {exc}")
    for (before, age_before), (after, age_after) in itertools.pairwise(ages):
        if age_after < age_before:
            errors.append(f"ILM policy {name}: phases out of order: {after}.min_age "
                          f"({phases[after].get('min_age', '0ms')}) is earlier than {before}.min_age "
                          f"({phases[before].get('min_age', '0ms')}); each phase starts after the one before it")
    rollover = ((phases.get("hot") or {}).get("actions") or {}).get("rollover") or {}
    if "max_age" in rollover:
        try:
            hot_age = seconds(rollover["max_age"])
        except ValueError as exc:
            errors.append(f"ILM policy {name}: hot.actions.rollover.max_age {exc}")
        else:
            for phase, age in ages:
                if phase != "hot" and age < hot_age:
                    errors.append(f"ILM policy {name}: {phase}.min_age ({phases[phase].get('min_age', '0ms')}) "
                                  f"is earlier than the hot phase's rollover max_age ({rollover['max_age']}): "
                                  f"an index would leave hot before it rolls over")
    return errors


def _shard_errors(where: str, settings: dict | None) -> list[str]:
    errors = []
    flat = flat_settings(settings)
    for key, low in (("index.number_of_shards", 1), ("index.number_of_replicas", 0)):
        if key not in flat:
            continue
        value = flat[key]
        if not value.isdigit() or not low <= int(value) <= MAX_SHARDS:
            errors.append(f"{where}: {key.removeprefix('index.')} is {value}; allowed: a whole number "
                          f"from {low} to {MAX_SHARDS}")
    return errors


def input_errors(policies: list[dict], component_templates: list[dict], index_templates: list[dict]) -> list[str]:
    """Every problem of the declared resources, each naming the resource, the value and what is allowed."""
    errors = []
    for policy in policies:
        errors += _policy_errors(policy)
    for template in component_templates:
        errors += _shard_errors(f"component template {template.get('name')}",
                                (template.get("body", {}).get("template") or {}).get("settings"))
    for template in index_templates:
        body = template.get("body", {})
        errors += _shard_errors(f"index template {template.get('name')}", (body.get("template") or {}).get("settings"))
        if not body.get("index_patterns"):
            errors.append(f"index template {template.get('name')}: index_patterns is empty")
    for i, first in enumerate(index_templates):
        for second in index_templates[i + 1:]:
            a, b = first.get("body", {}), second.get("body", {})
            if a.get("priority", 0) != b.get("priority", 0):
                continue
            shared = [(p, q) for p in a.get("index_patterns", []) for q in b.get("index_patterns", [])
                      if _patterns_overlap(p, q)]
            if shared:
                p, q = shared[0]
                errors.append(f"index templates {first.get('name')} and {second.get('name')}: patterns {p} and {q} "
                              f"match the same indices at the same priority ({a.get('priority', 0)}); "
                              "Elasticsearch refuses that: give one a higher priority")
    return errors


# ---- making the cluster match --------------------------------------------------------------------

class Converger:
    """Diff and apply. Reads always run; writes are skipped in check mode. ``request(method, path,
    body, auth=None) -> (status, json)``; ``auth`` is a (user, password) pair for one call."""

    def __init__(self, request, check_mode: bool = False):
        self.request, self.check_mode = request, check_mode
        self.changes: list[str] = []
        self.diff: dict[str, dict] = {"before": {}, "after": {}}

    def call(self, method: str, path: str, body: dict | None = None, ok=(200,), auth=None) -> dict:
        status, data = self.request(method, path, body, auth)
        if status not in ok:
            reason = (data or {}).get("error", data)
            if isinstance(reason, dict):
                reason = reason.get("reason") or reason.get("type") or reason
            raise ApiError(f"{method} {path}: HTTP {status}: {reason}")
        return data or {}

    def write(self, change: str, method: str, path: str, body: dict | None = None) -> None:
        self.changes.append(change)
        if not self.check_mode:
            self.call(method, path, body, ok=(200, 201))

    def _record(self, key: str, before, after) -> None:
        self.diff["before"][key] = before
        self.diff["after"][key] = after

    def policies(self, wanted: list[dict]) -> None:
        for item in wanted:
            name, policy = item["name"], item["policy"]
            path = f"/_ilm/policy/{quote(name)}"
            data = self.call("GET", path, ok=(200, 404))
            current = normal_policy(data[name]["policy"]) if name in data else None
            if current != normal_policy(policy):
                self._record(f"ilm_policy/{name}", current, normal_policy(policy))
                self.write(f"{'update' if current else 'create'} ILM policy {name}", "PUT", path, {"policy": policy})

    def _templates(self, kind: str, path_kind: str, answer_key: str, item_key: str, wanted: list[dict]) -> None:
        for item in wanted:
            name, body = item["name"], item["body"]
            path = f"/{path_kind}/{quote(name)}"
            data = self.call("GET", path, ok=(200, 404))
            found = [t[item_key] for t in data.get(answer_key, []) if t.get("name") == name]
            current = normal_template(found[0]) if found else None
            if current != normal_template(body):
                self._record(f"{path_kind.strip('_')}/{name}", current, normal_template(body))
                self.write(f"{'update' if current else 'create'} {kind} {name}", "PUT", path, body)

    def component_templates(self, wanted: list[dict]) -> None:
        self._templates("component template", "_component_template", "component_templates", "component_template",
                        wanted)

    def index_templates(self, wanted: list[dict]) -> None:
        self._templates("index template", "_index_template", "index_templates", "index_template", wanted)

    def data_streams(self, wanted: list[str]) -> None:
        for name in wanted:
            data = self.call("GET", f"/_data_stream/{quote(name)}", ok=(200, 404))
            if not any(stream.get("name") == name for stream in data.get("data_streams", [])):
                self.write(f"create data stream {name}", "PUT", f"/_data_stream/{quote(name)}")

    def roles(self, wanted: list[dict]) -> None:
        for item in wanted:
            name, body = item["name"], item["body"]
            path = f"/_security/role/{quote(name)}"
            data = self.call("GET", path, ok=(200, 404))
            current = normal_role(data[name]) if name in data else None
            if current != normal_role(body):
                self._record(f"role/{name}", current, normal_role(body))
                self.write(f"{'update' if current else 'create'} role {name}", "PUT", path, body)

    def users(self, wanted: list[dict]) -> None:
        """Users with their roles; built-in users (``builtin: true``) get only their password."""
        for item in wanted:
            name, password = item["name"], item.get("password")
            path = f"/_security/user/{quote(name)}"
            data = self.call("GET", path, ok=(200, 404))
            current = data.get(name)
            if not item.get("builtin"):
                declared = normal_user({key: item[key] for key in USER_FIELDS if key in item})
                if current is None:
                    self._record(f"user/{name}", None, declared)
                    self.write(f"create user {name}", "PUT", path, {**declared, "password": password})
                    continue
                if normal_user(current) != declared:
                    self._record(f"user/{name}", normal_user(current), declared)
                    self.write(f"update user {name}", "PUT", path, declared)
            elif current is None:
                raise ApiError(f"built-in user {name} does not exist on this cluster")
            if password is not None and not self.password_works(name, password):
                self.write(f"set the password of {name}", "POST", f"{path}/_password", {"password": password})

    def password_works(self, name: str, password: str) -> bool:
        status, _ = self.request("GET", "/_security/_authenticate", None, (name, password))
        return status == 200


def converge(request, *, policies=(), component_templates=(), index_templates=(), data_streams=(), roles=(),
             users=(), check_mode: bool = False) -> dict:
    """In dependency order: policies before the templates naming them, component templates before
    the index templates composed of them, templates before their data streams, roles before users."""
    converger = Converger(request, check_mode)
    converger.policies(list(policies))
    converger.component_templates(list(component_templates))
    converger.index_templates(list(index_templates))
    converger.data_streams(list(data_streams))
    converger.roles(list(roles))
    converger.users(list(users))
    return {"changed": bool(converger.changes), "changes": converger.changes, "diff": converger.diff}
