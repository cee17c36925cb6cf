"""TEST STAND-IN, never shipped: an in-memory model of Kibana 8's data views API
(GET /api/data_views, POST /api/data_views/data_view, GET and POST /api/data_views/data_view/{id}),
built from Elastic's documented requests and responses, for the bizra.infra.kibana_data_views
module (Kibana cannot be installed here). Like Kibana it refuses a write without the kbn-xsrf
header (400), lists views with id, title and name only, and answers a missing id with 404."""

from __future__ import annotations

import copy
import itertools


class FakeKibana:
    def __init__(self) -> None:
        self.views: dict[str, dict] = {}
        self.ids = (f"view-{n}" for n in itertools.count(1))
        self.writes = 0

    def __call__(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        if method != "GET" and (headers or {}).get("kbn-xsrf") != "true":
            return 400, {"statusCode": 400, "error": "Bad Request",
                         "message": "Request must contain a kbn-xsrf header."}
        if method == "GET" and path == "/api/data_views":
            return 200, {"data_view": [{"id": vid, "title": v["title"], "name": v["name"], "namespaces": ["default"]}
                                       for vid, v in self.views.items()]}
        if method == "POST" and path == "/api/data_views/data_view":
            view = body["data_view"]
            if any(v["title"] == view["title"] for v in self.views.values()):
                return 400, {"statusCode": 400, "message": f"Duplicate data view: {view['title']}"}
            vid = next(self.ids)
            self.views[vid] = {"id": vid, "title": view["title"], "name": view.get("name", view["title"]),
                               "timeFieldName": view.get("timeFieldName"), "fields": {}}
            self.writes += 1
            return 200, {"data_view": copy.deepcopy(self.views[vid])}
        prefix = "/api/data_views/data_view/"
        if path.startswith(prefix):
            vid = path[len(prefix):]
            if vid not in self.views:
                return 404, {"statusCode": 404, "error": "Not Found",
                             "message": f"Saved object [index-pattern/{vid}] not found"}
            if method == "GET":
                return 200, {"data_view": copy.deepcopy(self.views[vid])}
            if method == "POST":
                self.views[vid].update(body["data_view"])
                self.writes += 1
                return 200, {"data_view": copy.deepcopy(self.views[vid])}
        return 404, {"statusCode": 404, "message": f"no route {method} {path}"}
