"""InfluxDB 1.x continuous queries: statements from data, and the plan that makes the server match.

The server rewrites a CQ's text (quoting, spacing), so its text cannot be compared with ours.
What the module created is recorded on the host (statement ours, text as the server keeps it);
a CQ is recreated when our statement changes, when the server's text is not the one recorded
(someone changed it by hand), or when the module did not create it.
"""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION = re.compile(r"^([0-9]+(ns|u|µ|ms|s|m|h|d|w))+$")


def quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxql_string(value) -> str:
    """An InfluxQL string literal: single-quoted, backslashes and quotes escaped."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def cq_errors(cq) -> list[str]:
    if not isinstance(cq, dict):
        return [f"{cq!r} is not a dict"]
    label = f"continuous query {cq.get('name')!r}"
    errors = []
    for key in ("name", "source", "target"):
        if not isinstance(cq.get(key), str) or not IDENTIFIER.match(cq.get(key) or ""):
            errors.append(f"{label}: {key} {cq.get(key)!r} must be a name ({IDENTIFIER.pattern})")
    for key in ("every", "resample_every", "resample_for"):
        if key in cq and not DURATION.match(str(cq[key])):
            errors.append(f"{label}: {key} {cq[key]!r} is not an InfluxQL duration (10s, 1m, 1h)")
    if "every" not in cq:
        errors.append(f"{label}: every (the GROUP BY time interval) is required")
    unknown = set(cq) - {"name", "source", "target", "every", "select", "aggregate", "measurement", "resample_every",
                        "resample_for"}
    if unknown:
        errors.append(f"{label}: unknown keys {sorted(unknown)}")
    return errors


def cq_statement(database: str, cq: dict) -> str:
    """CREATE CONTINUOUS QUERY for a downsampling CQ: every measurement of the source retention
    policy (or one named measurement) aggregated per `every` into the target, tags kept."""
    db = quote(database)
    select = cq.get("select", "mean(*)")
    measurement = cq.get("measurement")
    if measurement:
        into = f"{db}.{quote(cq['target'])}.{quote(measurement)}"
        source = f"{db}.{quote(cq['source'])}.{quote(measurement)}"
    else:
        into = f"{db}.{quote(cq['target'])}.:MEASUREMENT"
        source = f"{db}.{quote(cq['source'])}./.*/"
    resample = ""
    if "resample_every" in cq or "resample_for" in cq:
        resample = " RESAMPLE" + (f" EVERY {cq['resample_every']}" if "resample_every" in cq else "") + (
            f" FOR {cq['resample_for']}" if "resample_for" in cq else "")
    return (f"CREATE CONTINUOUS QUERY {quote(cq['name'])} ON {db}{resample} BEGIN "
            f"SELECT {select} INTO {into} FROM {source} GROUP BY time({cq['every']}), * END")


def plan(database: str, wanted: list[dict], on_server: dict[str, str], recorded: dict[str, dict],
         purge: bool = True) -> dict:
    """What to drop and create so the database runs exactly the wanted CQs.

    on_server: name -> text as the server shows it; recorded: name -> {statement, server}.
    Returns {"drop": [names], "create": {name: statement}, "keep": [names]}.
    """
    drop, create, keep = [], {}, []
    wanted_names = set()
    for cq in wanted:
        name = cq["name"]
        wanted_names.add(name)
        statement = cq_statement(database, cq)
        record = recorded.get(name)
        if name in on_server:
            if record and record.get("statement") == statement and record.get("server") == on_server[name]:
                keep.append(name)
                continue
            drop.append(name)
        create[name] = statement
    if purge:
        drop += sorted(set(on_server) - wanted_names)
    return {"drop": drop, "create": create, "keep": keep}
