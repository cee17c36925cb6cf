#!/usr/bin/python
"""Write (or remove) a service role's firewall and SELinux drop-ins in one task."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_dropins
short_description: Export a service role's firewall rules and SELinux labels as drop-ins
description:
  - Service roles declare what the host firewall must let in and which SELinux labels their files
    and ports need; the C(nftables) and C(selinux) roles merge whatever drop-ins a host has and
    know no service by name.
  - Writes C(<firewall_dir>/<role>.json) (C({"role", "rules"})) and C(<selinux_dir>/<role>.json)
    (C({"role", "fcontexts", "ports", "booleans"}), the keys given), creating the directories.
  - An empty rule list or an empty SELinux mapping removes that drop-in, so a port a role stops
    exporting is closed at the firewall's next run.
  - Supports check mode and diff.
options:
  role:
    description: Name of the exporting role (the drop-ins' file name).
    type: str
    required: true
  firewall_rules:
    description:
      - "Rules, each C({name, proto, ports, sources}) (inbound) or C({name, direction: out, proto, ports,
        destinations}) (outbound); empty removes the firewall drop-in."
    type: list
    elements: dict
    default: []
  selinux:
    description: SELinux labels (C(fcontexts), C(ports), C(booleans) lists); empty removes the drop-in.
    type: dict
    default: {}
  firewall_dir:
    description: Directory the C(nftables) role reads.
    type: path
    default: /etc/bizra/firewall.d
  selinux_dir:
    description: Directory the C(selinux) role reads.
    type: path
    default: /etc/bizra/selinux.d
author: bizra SRE
"""

EXAMPLES = r"""
- name: Export the exporter's port for the monitoring hosts
  bizra.infra.service_dropins:
    role: node_exporter
    firewall_rules:
      - {name: node_exporter, proto: tcp, ports: [9100], sources: [10.89.10.71]}
"""

RETURN = r"""
files:
  description: Drop-in paths and what happened to each (C(written), C(removed), C(unchanged), C(absent)).
  type: dict
  returned: always
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

SELINUX_KEYS = ("fcontexts", "ports", "booleans")


def render(document: dict) -> str:
    """The same text as Ansible's to_nice_json, so files written by earlier releases stay unchanged."""
    return json.dumps(document, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def wanted_documents(params: dict) -> dict[str, str | None]:
    role = params["role"]
    selinux = {key: value for key, value in (params["selinux"] or {}).items() if key in SELINUX_KEYS}
    rules = params["firewall_rules"] or []
    return {
        os.path.join(params["firewall_dir"], f"{role}.json"): render({"role": role, "rules": rules}) if rules else None,
        os.path.join(params["selinux_dir"], f"{role}.json"):
            render({"role": role, **selinux}) if any(selinux.values()) else None,
    }


def read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def converge(module: AnsibleModule, path: str, content: str | None) -> tuple[str, dict | None]:
    before = read(path)
    if before == content:
        return ("unchanged" if content is not None else "absent"), None
    diff = {"before_header": path, "after_header": path, "before": before or "", "after": content or ""}
    if module.check_mode:
        return ("written" if content is not None else "removed"), diff
    if content is None:
        os.unlink(path)
        return "removed", diff
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(temporary, 0o644)
    module.atomic_move(temporary, path)
    return "written", diff


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "role": {"type": "str", "required": True},
            "firewall_rules": {"type": "list", "elements": "dict", "default": []},
            "selinux": {"type": "dict", "default": {}},
            "firewall_dir": {"type": "path", "default": "/etc/bizra/firewall.d"},
            "selinux_dir": {"type": "path", "default": "/etc/bizra/selinux.d"},
        },
        supports_check_mode=True,
    )
    unknown = sorted(set(module.params["selinux"] or {}) - set(SELINUX_KEYS))
    if unknown:
        module.fail_json(msg=f"service_dropins: selinux takes {', '.join(SELINUX_KEYS)}; unknown: {', '.join(unknown)}")
    files, diffs = {}, []
    for path, content in wanted_documents(module.params).items():
        files[path], diff = converge(module, path, content)
        if diff:
            diffs.append(diff)
    module.exit_json(changed=bool(diffs), files=files, diff=diffs)


if __name__ == "__main__":
    main()
