"""InfluxDB 2.x from the same data as 1.x: databases and retention policies become buckets
"<database>/<policy>" (the name 2.x's 1.x compatibility API maps them to), continuous queries
become Flux tasks, users become tokens on their databases' buckets. `converge` makes the server
match through the HTTP API, given a `request(method, path, params, body) -> (status, json)`."""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PART = re.compile(r"([0-9]+)(s|m|h|d|w)")
TOKEN_PREFIX = "bizra:"


def seconds(duration: str) -> int:
    """InfluxQL duration to seconds; INF is 0 (2.x: never expire)."""
    text = str(duration)
    if text.upper() == "INF":
        return 0
    parts = PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{duration!r} is not a duration (90d, 1h30m) or INF")
    return sum(int(n) * UNITS[u] for n, u in parts)


def bucket_name(database: str, policy: str) -> str:
    return f"{database}/{policy}"


def buckets_from(databases: list[dict]) -> list[dict]:
    return [{"name": bucket_name(db["name"], rp["name"]), "retention_seconds": seconds(rp["duration"]),
             "shard_group_seconds": seconds(rp.get("shard_duration", "1d"))}
            for db in databases for rp in db.get("retention_policies", [])]


def flux_downsample(database: str, cq: dict, org: str) -> str:
    measurement = cq.get("measurement")
    lines = [
        'import "types"',
        "",
        f'option task = {{name: "{cq["name"]}", every: {cq["every"]}}}',
        "",
        f'from(bucket: "{bucket_name(database, cq["source"])}")',
        "    |> range(start: -task.every)",
    ]
    if measurement:
        lines.append(f'    |> filter(fn: (r) => r._measurement == "{measurement}")')
    lines += [
        "    |> filter(fn: (r) => types.isNumeric(v: r._value))",
        f'    |> aggregateWindow(every: {cq["every"]}, fn: {cq.get("aggregate", "mean")}, createEmpty: false)',
        f'    |> to(bucket: "{bucket_name(database, cq["target"])}", org: "{org}")',
    ]
    return "\n".join(lines) + "\n"


def tasks_from(databases: list[dict], org: str) -> list[dict]:
    return [{"name": cq["name"], "flux": flux_downsample(db["name"], cq, org)}
            for db in databases for cq in db.get("continuous_queries", [])]


PRIVILEGE_ACTIONS = {"READ": ["read"], "WRITE": ["write"], "ALL": ["read", "write"]}


def tokens_from(users: list[dict], databases: list[dict]) -> list[dict]:
    """A token per user: its privileges on every bucket of each database it is granted."""
    policies = {db["name"]: [rp["name"] for rp in db.get("retention_policies", [])] for db in databases}
    tokens = []
    for user in users:
        permissions = set()
        for grant in user.get("grants", []):
            for action in PRIVILEGE_ACTIONS[grant["privilege"].upper()]:
                for policy in policies.get(grant["database"], []):
                    permissions.add((action, bucket_name(grant["database"], policy)))
        tokens.append({"user": user["name"], "permissions": sorted(permissions)})
    return tokens


class ApiError(RuntimeError):
    pass


class Converger:
    """Diff and apply. Read calls always run; writes are skipped in check mode."""

    def __init__(self, request, org: str, check_mode: bool = False):
        self.request, self.org, self.check_mode = request, org, check_mode
        self.changes: list[str] = []
        self.tokens: dict[str, str] = {}

    def call(self, method: str, path: str, params: dict | None = None, body: dict | None = None, ok=(200,)):
        status, data = self.request(method, path, params or {}, body)
        if status not in ok:
            raise ApiError(f"{method} {path}: HTTP {status}: {(data or {}).get('message', data)}")
        return data

    def write(self, change: str, method: str, path: str, body: dict | None = None, ok=(200, 201, 204)):
        self.changes.append(change)
        if self.check_mode:
            return None
        return self.call(method, path, body=body, ok=ok)

    def org_id(self) -> str | None:
        orgs = self.call("GET", "/api/v2/orgs", {"org": self.org}, ok=(200, 404)).get("orgs", [])
        if orgs:
            return orgs[0]["id"]
        created = self.write(f"create org {self.org}", "POST", "/api/v2/orgs", {"name": self.org})
        return created["id"] if created else None

    def buckets(self, org_id: str | None, wanted: list[dict]) -> dict[str, str]:
        existing = {}
        if org_id:
            data = self.call("GET", "/api/v2/buckets", {"orgID": org_id, "limit": 100})
            existing = {b["name"]: b for b in data.get("buckets", [])}
        ids = {}
        for bucket in wanted:
            rules = [{"type": "expire", "everySeconds": bucket["retention_seconds"],
                      "shardGroupDurationSeconds": bucket["shard_group_seconds"]}]
            current = existing.get(bucket["name"])
            if current is None:
                created = self.write(f"create bucket {bucket['name']}", "POST", "/api/v2/buckets",
                                     {"orgID": org_id, "name": bucket["name"], "retentionRules": rules})
                ids[bucket["name"]] = created["id"] if created else f"(new {bucket['name']})"
                continue
            ids[bucket["name"]] = current["id"]
            have = [{k: r.get(k) for k in ("type", "everySeconds", "shardGroupDurationSeconds")}
                    for r in current.get("retentionRules", [])]
            if have != rules:
                self.write(f"set retention of bucket {bucket['name']}", "PATCH", f"/api/v2/buckets/{current['id']}",
                           {"retentionRules": rules})
        return ids

    def tasks(self, org_id: str | None, wanted: list[dict]) -> None:
        existing = {}
        if org_id:
            data = self.call("GET", "/api/v2/tasks", {"orgID": org_id, "limit": 500})
            existing = {t["name"]: t for t in data.get("tasks", [])}
        for task in wanted:
            current = existing.get(task["name"])
            if current is None:
                self.write(f"create task {task['name']}", "POST", "/api/v2/tasks",
                           {"orgID": org_id, "flux": task["flux"], "status": "active"})
            elif current.get("flux") != task["flux"] or current.get("status") != "active":
                self.write(f"update task {task['name']}", "PATCH", f"/api/v2/tasks/{current['id']}",
                           {"flux": task["flux"], "status": "active"})

    def authorizations(self, org_id: str | None, bucket_ids: dict[str, str], wanted: list[dict]) -> None:
        existing = {}
        if org_id:
            data = self.call("GET", "/api/v2/authorizations", {"orgID": org_id})
            existing = {a.get("description"): a for a in data.get("authorizations", [])
                        if str(a.get("description", "")).startswith(TOKEN_PREFIX)}
        for token in wanted:
            description = TOKEN_PREFIX + token["user"]
            permissions = [{"action": action, "resource": {"type": "buckets", "id": bucket_ids[bucket], "orgID": org_id}}
                           for action, bucket in token["permissions"]]
            current = existing.get(description)
            if current is not None:
                have = sorted((p["action"], p["resource"].get("id")) for p in current.get("permissions", []))
                if have == sorted((p["action"], p["resource"]["id"]) for p in permissions):
                    continue
                # A token's permissions cannot change: a new token replaces it.
                self.write(f"replace token of {token['user']}", "DELETE", f"/api/v2/authorizations/{current['id']}")
            created = self.write(f"create token of {token['user']}", "POST", "/api/v2/authorizations",
                                 {"orgID": org_id, "description": description, "permissions": permissions})
            if created:
                self.tokens[token["user"]] = created["token"]


def converge(request, org: str, databases: list[dict], users: list[dict], check_mode: bool = False) -> dict:
    converger = Converger(request, org, check_mode)
    org_id = converger.org_id()
    bucket_ids = converger.buckets(org_id, buckets_from(databases))
    converger.tasks(org_id, tasks_from(databases, org))
    converger.authorizations(org_id, bucket_ids, tokens_from(users, databases))
    return {"changed": bool(converger.changes), "changes": converger.changes, "tokens": converger.tokens}
