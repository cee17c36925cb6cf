#!/usr/bin/python
"""Read a host's health in one call: what `bizractl status` shows. Changes nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
module: host_status
short_description: Read a host's component health in one pass (read-only)
description:
  - One task per host for a fleet status table, never a converge. Each probe runs only where its
    component is installed, and a probe that cannot read its component reports that, not a failure.
  - "Components: systemd units (the fleet's services that exist on the host), BGP sessions (vtysh),
    PostgreSQL role and replay lag, geth head and peers (its JSON-RPC), md RAID arrays
    (/proc/mdstat), the host firewall table, Prometheus scrape targets."
  - Each component has C(health) C(ok), C(warn) or C(crit) and a one-line C(summary).
options:
  geth_rpc_url:
    description: geth's JSON-RPC URL on the host; empty skips geth.
    type: str
    default: ""
  prometheus_url:
    description: Prometheus' URL on the host; empty skips the scrape targets.
    type: str
    default: ""
  postgresql_port:
    description: The PostgreSQL port.
    type: int
    default: 5432
  firewall_table:
    description: The nftables table (family inet) the nftables role loads.
    type: str
    default: bizra_firewall
  units:
    description: systemd service units (names or shell patterns) to report when they exist on the host.
    type: list
    elements: str
    default: []
author: bizra SRE
"""

EXAMPLES = r"""
- name: Read the host's health
  bizra.infra.host_status:
    geth_rpc_url: http://127.0.0.1:8545
    units: [geth.service, frr.service]
"""

RETURN = r"""
components:
  description: Per component, C(health) (ok, warn, crit), C(summary) and its details.
  type: dict
  returned: always
"""

import json
import os
import re
import shutil
import urllib.request

from ansible.module_utils.basic import AnsibleModule


def _units(module, patterns):
    if not patterns or not shutil.which("systemctl"):
        return None
    rc, out, _ = module.run_command(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--full",
                                     "--type=service", "--", *patterns])
    states = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "loaded":
            states[fields[0]] = f"{fields[2]}/{fields[3]}"
    if not states:
        return None
    down = sorted(name for name, state in states.items() if not state.startswith("active"))
    return {"health": "crit" if down else "ok", "units": states,
            "summary": f"{len(states) - len(down)}/{len(states)} active" + (f" (down: {', '.join(down)})" if down else "")}


def _bgp(module):
    if not shutil.which("vtysh"):
        return None
    rc, out, err = module.run_command(["vtysh", "-c", "show bgp summary json"])
    if rc != 0:
        return {"health": "crit", "summary": f"vtysh failed: {(err or out).strip()[:120]}"}
    try:
        data = json.loads(out or "{}")
    except ValueError:
        return {"health": "crit", "summary": "vtysh gave no JSON"}
    peers = {}
    for family in data.values():
        for address, peer in (family.get("peers") or {}).items() if isinstance(family, dict) else ():
            peers[address] = peer.get("state", "?")
    if not peers:
        return {"health": "warn", "summary": "no BGP neighbours", "peers": {}}
    up = [a for a, s in peers.items() if s == "Established"]
    health = "ok" if len(up) == len(peers) else ("warn" if up else "crit")
    return {"health": health, "peers": peers, "established": len(up),
            "summary": f"{len(up)}/{len(peers)} sessions Established"}


def _postgresql(module, port):
    if not shutil.which("psql") or not shutil.which("runuser"):
        return None
    query = ("select pg_is_in_recovery(), "
             "coalesce((select status from pg_stat_wal_receiver), 'none'), "
             "coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint, "
             "(select count(*) from pg_stat_replication where state = 'streaming'), "
             "(select count(*) from pg_stat_replication where sync_state in ('sync', 'quorum'))")
    rc, out, err = module.run_command(["runuser", "-u", "postgres", "--", "psql", "-p", str(port), "-XAtF", "|", "-c", query])
    if rc != 0:
        return {"health": "crit", "summary": f"not answering: {err.strip().splitlines()[-1][:120] if err.strip() else rc}"}
    recovery, receiver, replay_lag, standbys, sync = out.strip().split("|")
    if recovery == "t":
        lag = int(replay_lag)
        streaming = receiver == "streaming"
        health = "crit" if not streaming else ("warn" if lag > 16 * 1024 * 1024 else "ok")
        return {"health": health, "role": "standby", "receiver": receiver, "replay_lag_bytes": lag,
                "summary": f"standby, {'streaming' if streaming else 'NOT streaming (' + receiver + ')'}, "
                           f"replay lag {lag} B"}
    return {"health": "ok", "role": "primary", "standbys": int(standbys), "synchronous": int(sync),
            "summary": f"primary, {standbys} standby(s) streaming, {sync} synchronous"}


def _rpc(url, method):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - the host's own RPC
        return json.loads(answer.read())["result"]


def _geth(url):
    if not url:
        return None
    try:
        head = int(_rpc(url, "eth_blockNumber"), 16)
        peers = int(_rpc(url, "net_peerCount"), 16)
        syncing = _rpc(url, "eth_syncing")
    except Exception as error:  # any failure to read is the finding
        return {"health": "crit", "summary": f"RPC not answering ({type(error).__name__})"}
    health = "warn" if syncing or peers == 0 else "ok"
    return {"health": health, "head": head, "peers": peers, "syncing": bool(syncing),
            "summary": f"head {head}, {peers} peer(s){', syncing' if syncing else ''}"}


def _raid():
    if not os.path.exists("/proc/mdstat"):
        return None
    with open("/proc/mdstat", encoding="utf-8") as mdstat:
        text = mdstat.read()
    arrays = {}
    for match in re.finditer(r"^(md\S+) : (\S+) (\S+)?.*?\n.*?\[(\d+)/(\d+)\] \[([U_]+)\]", text, re.M | re.S):
        name, state, _level, total, working, bits = match.groups()
        arrays[name] = "clean" if "_" not in bits and state == "active" else f"degraded [{bits}]"
    if not arrays:
        return None
    bad = [n for n, s in arrays.items() if s != "clean"]
    recovering = "recovery" in text or "resync" in text
    return {"health": "crit" if bad else "ok", "arrays": arrays, "recovering": recovering,
            "summary": ", ".join(f"{n} {s}" for n, s in sorted(arrays.items())) + (" (rebuilding)" if recovering else "")}


def _firewall(module, table):
    if not shutil.which("nft"):
        return None
    rc, out, _ = module.run_command(["nft", "list", "table", "inet", table])
    if rc != 0:
        return {"health": "crit", "loaded": False, "summary": f"table inet {table} not loaded"}
    rules = sum(1 for line in out.splitlines() if re.search(r"\b(accept|drop|reject|jump|goto)\b", line))
    return {"health": "ok", "loaded": True, "rules": rules, "summary": f"loaded ({rules} rules)"}


def _prometheus(url):
    if not url:
        return None
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/targets?state=active", timeout=5) as answer:  # noqa: S310
            targets = json.loads(answer.read())["data"]["activeTargets"]
    except Exception as error:  # any failure to read is the finding
        return {"health": "crit", "summary": f"API not answering ({type(error).__name__})"}
    down = sorted({f"{t['labels'].get('job')}/{t['labels'].get('instance')}" for t in targets if t.get("health") != "up"})
    return {"health": "warn" if down else "ok", "targets": len(targets), "down": down,
            "summary": f"{len(targets) - len(down)}/{len(targets)} targets up" + (f" (down: {', '.join(down[:5])})" if down else "")}


def main():
    module = AnsibleModule(
        argument_spec={
            "geth_rpc_url": {"type": "str", "default": ""},
            "prometheus_url": {"type": "str", "default": ""},
            "postgresql_port": {"type": "int", "default": 5432},
            "firewall_table": {"type": "str", "default": "bizra_firewall"},
            "units": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    probes = {
        "services": lambda: _units(module, p["units"]),
        "bgp": lambda: _bgp(module),
        "postgresql": lambda: _postgresql(module, p["postgresql_port"]),
        "geth": lambda: _geth(p["geth_rpc_url"]),
        "raid": _raid,
        "firewall": lambda: _firewall(module, p["firewall_table"]),
        "prometheus": lambda: _prometheus(p["prometheus_url"]),
    }
    components = {}
    for name, probe in probes.items():
        try:
            result = probe()
        except Exception as error:  # a probe's own failure is reported, the others still run
            result = {"health": "crit", "summary": f"probe failed: {type(error).__name__}: {error}"[:200]}
        if result is not None:
            components[name] = result
    module.exit_json(changed=False, components=components)


if __name__ == "__main__":
    main()
