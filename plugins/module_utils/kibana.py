"""Kibana 8 data views as data, through Kibana's HTTP API (/api/data_views): the logic of the
bizra.infra.kibana_data_views module. A data view is matched by its title (the index pattern);
its name and time field are compared with what Kibana stores and changed when they differ."""

from __future__ import annotations


class ApiError(Exception):
    pass


def declared_view(view: dict) -> dict:
    return {"title": view["title"], "name": view.get("name") or view["title"],
            "timeFieldName": view.get("time_field", "@timestamp")}


def input_errors(views: list[dict]) -> list[str]:
    titles = [view.get("title") or "" for view in views]
    errors = [f"data view #{i}: title is empty" for i, title in enumerate(titles, start=1) if not title]
    errors += [f"data view title {title} is declared twice" for title in sorted(set(titles))
               if title and titles.count(title) > 1]
    return errors


def converge(request, views: list[dict], check_mode: bool = False) -> dict:
    """``request(method, path, body) -> (status, json)``. Returns changed, changes and diff."""

    def call(method: str, path: str, body: dict | None = None) -> dict:
        status, answer = request(method, path, body)
        if status != 200:
            raise ApiError(f"{method} {path}: HTTP {status}: {answer.get('message') or answer}")
        return answer

    existing = {view["title"]: view for view in call("GET", "/api/data_views").get("data_view", [])}
    changes, before, after = [], {}, {}
    for view in views:
        wanted = declared_view(view)
        title = wanted["title"]
        if title not in existing:
            changes.append(f"create data view {title}")
            after[title] = wanted
            if not check_mode:
                call("POST", "/api/data_views/data_view", {"data_view": wanted})
            continue
        stored = call("GET", f"/api/data_views/data_view/{existing[title]['id']}")["data_view"]
        current = {key: stored.get(key) for key in wanted}
        if current != wanted:
            changes.append(f"update data view {title}")
            before[title], after[title] = current, wanted
            if not check_mode:
                call("POST", f"/api/data_views/data_view/{existing[title]['id']}",
                     {"data_view": {"name": wanted["name"], "timeFieldName": wanted["timeFieldName"]}})
    return {"changed": bool(changes), "changes": changes, "diff": {"before": before, "after": after}}
