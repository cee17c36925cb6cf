"""TEST STAND-IN, never shipped: an in-memory imitation of the parts of InfluxDB 2.x's HTTP API
the influxdb2 module uses (InfluxDB 2.x has no package these machines can install; README, "influxdb"). It records every
call, so tests see what the converger would send to a real server."""

from __future__ import annotations

import itertools


class FakeInflux2:
    def __init__(self):
        self.ids = (f"id{n:04d}" for n in itertools.count(1))
        self.orgs, self.buckets, self.tasks, self.auths = {}, {}, {}, {}
        self.calls: list[tuple[str, str]] = []

    def request(self, method, path, params, body):
        self.calls.append((method, path))
        parts = path.strip("/").split("/")[2:]  # after api/v2
        kind, ident = parts[0], parts[1] if len(parts) > 1 else None
        if method == "GET":
            if kind == "orgs":
                orgs = [o for o in self.orgs.values() if o["name"] == params.get("org")]
                return (200, {"orgs": orgs}) if orgs else (404, {"message": "organization not found"})
            store = {"buckets": self.buckets, "tasks": self.tasks, "authorizations": self.auths}[kind]
            return 200, {kind: [v for v in store.values() if v.get("orgID") == params.get("orgID")]}
        if method == "POST":
            new = dict(body, id=next(self.ids))
            if kind == "orgs":
                self.orgs[new["id"]] = new
            elif kind == "buckets":
                self.buckets[new["id"]] = new
            elif kind == "tasks":
                self.tasks[new["id"]] = new | {"name": body["flux"].split('name: "')[1].split('"')[0]}
            elif kind == "authorizations":
                new["token"] = f"token-{new['id']}"
                self.auths[new["id"]] = new
            return 201, new
        if method == "PATCH":
            store = {"buckets": self.buckets, "tasks": self.tasks}[kind]
            store[ident].update(body)
            return 200, store[ident]
        if method == "DELETE":
            del self.auths[ident]
            return 204, {}
        return 405, {"message": "unsupported"}
