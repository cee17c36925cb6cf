#!/usr/bin/python
"""The continuous queries of an InfluxDB 1.x database, exactly as declared."""

from __future__ import annotations

DOCUMENTATION = r"""
module: influxdb1_continuous_queries
short_description: Downsampling continuous queries of an InfluxDB 1.x database
description:
  - Makes the database run exactly the declared continuous queries. CQs cannot be altered,
    a changed one is dropped and created again. With I(purge), CQs not declared are dropped.
  - Talks to the HTTP API on the managed host; the password is never logged.
  - Records what it created in I(state_file) to notice changes made by hand (the server rewrites
    a CQ's text, so ours cannot be compared with it directly).
options:
  url: {description: Base URL of the InfluxDB HTTP API., type: str, default: "http://127.0.0.1:8086"}
  username: {description: Admin user., type: str, required: true}
  password: {description: Its password., type: str, required: true, no_log: true}
  database: {description: The database., type: str, required: true}
  queries:
    description:
      - name, source (retention policy read), target (retention policy written), every (GROUP BY
        time), and optionally select (default C(mean(*))), measurement (default every measurement,
        through C(:MEASUREMENT)), resample_every, resample_for.
    type: list
    elements: dict
    default: []
  purge: {description: Drop CQs of the database that are not declared., type: bool, default: true}
  state_file: {description: Where the record is kept (root only)., type: path,
               default: /var/lib/influxdb/bizra-continuous-queries.json}
author: bizra SRE
"""

EXAMPLES = r"""
- name: Downsample market data
  bizra.infra.influxdb1_continuous_queries:
    username: admin
    password: "{{ vault_influxdb_admin_password }}"
    database: markets
    queries:
      - {name: market_data_1m, source: market_data, target: market_data_1m, every: 1m}
"""

RETURN = r"""
created: {description: Names created (or recreated)., type: list, returned: always}
dropped: {description: Names dropped., type: list, returned: always}
"""

import json
import os
import tempfile
from urllib.error import HTTPError
from urllib.parse import urlencode

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.bizra.infra.plugins.module_utils.influxdb1 import cq_errors, plan


class InfluxQL:
    def __init__(self, url: str, username: str, password: str):
        self.url, self.username, self.password = url.rstrip("/"), username, password

    def run(self, query: str, database: str | None = None, write: bool = False) -> list:
        """A query through /query: GET to read, POST to change (InfluxDB 1.x refuses changes by GET)."""
        body = urlencode({"q": query} | ({"db": database} if database else {}))
        auth = {"url_username": self.username, "url_password": self.password, "force_basic_auth": True, "timeout": 30}
        try:
            if write:
                response = open_url(f"{self.url}/query", method="POST", data=body,
                                    headers={"Content-Type": "application/x-www-form-urlencoded"}, **auth)
            else:
                response = open_url(f"{self.url}/query?{body}", **auth)
        except HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code}: {exc.read().decode(errors='replace').strip()}") from None
        results = json.loads(response.read())["results"]
        for result in results:
            if "error" in result:
                raise RuntimeError(result["error"])
        return results


def read_record(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def write_record(path: str, record: dict) -> None:
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".bizra-cq-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
    os.chmod(temp, 0o600)
    os.replace(temp, path)


def server_queries(client: InfluxQL, database: str) -> dict[str, str]:
    queries = {}
    for series in client.run("SHOW CONTINUOUS QUERIES")[0].get("series", []):
        if series.get("name") == database:
            queries.update({row[0]: row[1] for row in series.get("values") or []})
    return queries


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "default": "http://127.0.0.1:8086"},
        "username": {"type": "str", "required": True},
        "password": {"type": "str", "required": True, "no_log": True},
        "database": {"type": "str", "required": True},
        "queries": {"type": "list", "elements": "dict", "default": []},
        "purge": {"type": "bool", "default": True},
        "state_file": {"type": "path", "default": "/var/lib/influxdb/bizra-continuous-queries.json"},
    }, supports_check_mode=True)
    params = module.params
    errors = [e for cq in params["queries"] for e in cq_errors(cq)]
    if errors:
        module.fail_json(msg="; ".join(errors))
    client = InfluxQL(params["url"], params["username"], params["password"])
    database = params["database"]
    try:
        on_server = server_queries(client, database)
        record = read_record(params["state_file"])
        actions = plan(database, params["queries"], on_server, record.get(database, {}), params["purge"])
        changed = bool(actions["drop"] or actions["create"])
        diff = {"before": "\n".join(f"{n}: {q}" for n, q in sorted(on_server.items())) + "\n",
                "after": "\n".join(sorted(f"{n}: {q}" for n, q in actions["create"].items())
                                   + [f"{n}: {on_server[n]}" for n in actions["keep"]]) + "\n"}
        if changed and not module.check_mode:
            for name in actions["drop"]:
                client.run(f'DROP CONTINUOUS QUERY "{name}" ON "{database}"', database, write=True)
            for statement in actions["create"].values():
                client.run(statement, database, write=True)
            now_on_server = server_queries(client, database)
            record[database] = {
                name: {"statement": statement, "server": now_on_server.get(name, "")}
                for name, statement in actions["create"].items()
            } | {name: record.get(database, {})[name] for name in actions["keep"]}
            write_record(params["state_file"], record)
    except (RuntimeError, OSError, ValueError) as exc:
        module.fail_json(msg=f"InfluxDB {database}: {exc}")
    module.exit_json(changed=changed, created=sorted(actions["create"]), dropped=actions["drop"], diff=diff)


if __name__ == "__main__":
    main()
