#!/usr/bin/python
"""A Luna HSM client's partitions as LunaCM sees them: visibility, M-of-N policy, HA groups (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: luna_client
short_description: Check a Luna client's partitions, their M-of-N policy and its HA groups
description:
  - Read-only. Runs LunaCM with its commands on standard input.
  - Every declared partition serial must be visible to this client (registered on its appliance
    and assigned to it); one that is not fails naming the partition, the serial and the appliance
    commands that assign it.
  - Each partition's M-of-N policy as the HSM reports it must be the declared one; a difference
    fails naming partition, serial, what the HSM has and what the inventory expects. The module
    never sets a policy and never stores a PIN, a challenge or an M-of-N secret.
  - A partition with more than one serial must be an HA group labelled like the partition with
    each serial as a member, and HA-only mode on when asked, as LunaCM reads them from
    Chrystoki.conf (the role writes that file; the group needs no password). Supports check mode.
options:
  lunacm:
    description: Path of lunacm.
    type: path
    required: true
  client_name:
    description: The client's name on the appliances (for the registration hint).
    type: str
    required: true
  partitions:
    description: Each C(label), C(serials) (the partition's serial on each appliance) and C(m_of_n) ({m, n}).
    type: list
    elements: dict
    required: true
  ha_only:
    description: HA-only mode (applications see only the HA groups' virtual slots).
    type: bool
    default: true
author: bizra SRE
"""

EXAMPLES = r"""
- name: Check the partitions and make their HA groups
  bizra.infra.luna_client:
    lunacm: /usr/safenet/lunaclient/bin/lunacm
    client_name: signer-fra-1
    partitions:
      - {label: trading-operations, serials: ["1238696044963", "1238696044964"], m_of_n: {m: 3, n: 5}}
"""

RETURN = r"""
slots:
  description: The slots LunaCM lists (C(slot), C(label), C(serial)).
  type: list
  returned: always
policies:
  description: Per partition serial the M-of-N the HSM reports (C(label), C(serial), C(m), C(n)).
  type: list
  returned: always
groups:
  description: The HA groups LunaCM lists, label to member serials.
  type: dict
  returned: always
"""

import re

from ansible.module_utils.basic import AnsibleModule

RESULT = re.compile(r"Command Result\s*:\s*(.+?)\s*$", re.MULTILINE)
SLOT_FIELD = re.compile(r"^\s*(Slot Id|Label|Serial Number|Slot Description)\s*->\s*(.*?)\s*$")
M_OF_N = re.compile(r"M\s*of\s*N\s*(?:->|:)\s*(\d+)\s*of\s*(\d+)", re.IGNORECASE)
GROUP_LABEL = re.compile(r"HA Group Label:\s*(\S.*?)\s*$")
GROUP_MEMBERS = re.compile(r"Group Members:\s*(.*?)\s*$")
HA_ONLY = re.compile(r"HA Only mode:\s*(enabled|disabled)", re.IGNORECASE)


class LunaError(Exception):
    pass


def parse_slots(text: str) -> list[dict]:
    slots, current = [], {}
    for line in text.splitlines():
        match = SLOT_FIELD.match(line)
        if not match:
            continue
        key, value = match.groups()
        if key == "Slot Id":
            current = {"slot": int(value)}
            slots.append(current)
        elif current:
            current[{"Label": "label", "Serial Number": "serial", "Slot Description": "description"}[key]] = value
    return slots


def parse_groups(text: str) -> tuple[dict[str, list[str]], bool | None]:
    groups, label = {}, None
    for line in text.splitlines():
        if match := GROUP_LABEL.search(line):
            label = match[1]
            groups[label] = []
        elif (match := GROUP_MEMBERS.search(line)) and label is not None:
            groups[label] = [member.strip() for member in match[1].split(",") if member.strip()]
    mode = HA_ONLY.search(text)
    return groups, (mode[1].lower() == "enabled") if mode else None


def parse_m_of_n(text: str) -> tuple[int, int] | None:
    match = M_OF_N.search(text)
    return (int(match[1]), int(match[2])) if match else None


class LunaCM:
    def __init__(self, module: AnsibleModule, path: str):
        self.module, self.path = module, path

    def run(self, *commands: str) -> str:
        """One lunacm session fed on standard input; every command must report No Error."""
        script = "\n".join([*commands, "exit"]) + "\n"
        rc, out, err = self.module.run_command([self.path], data=script, binary_data=True)
        shown = " / ".join(commands)
        if rc != 0:
            raise LunaError(f"lunacm exited {rc} on '{shown}': {(err or out).strip()[-500:]}")
        results = RESULT.findall(out)
        errors = [result for result in results if result != "No Error"]
        if errors or len(results) < len(commands):
            raise LunaError(f"lunacm reported {', '.join(errors) or 'no result'} for '{shown}'")
        return out


def converge(module: AnsibleModule, params: dict) -> dict:
    lunacm = LunaCM(module, params["lunacm"])
    slots = parse_slots(lunacm.run("slot list"))
    by_serial = {slot.get("serial"): slot for slot in slots}
    missing = [(p["label"], serial) for p in params["partitions"] for serial in p["serials"] if serial not in by_serial]
    if missing:
        label, serial = missing[0]
        raise LunaError(
            f"partition {label} (serial {serial}) is not visible to this client: on its appliance, "
            f"`client register -client {params['client_name']} -hostname {params['client_name']}` and "
            f"`client assignPartition -client {params['client_name']} -partition {label}` (lunash), "
            f"then run again" + (f"; also missing: {', '.join(s for _, s in missing[1:])}" if len(missing) > 1 else ""))
    policies, differences = [], []
    for partition in params["partitions"]:
        wanted = (int(partition["m_of_n"]["m"]), int(partition["m_of_n"]["n"]))
        for serial in partition["serials"]:
            found = parse_m_of_n(lunacm.run(f"slot set -slot {by_serial[serial]['slot']}", "partition showinfo"))
            policies.append({"label": partition["label"], "serial": serial,
                             "m": found[0] if found else None, "n": found[1] if found else None})
            if found != wanted:
                differences.append(
                    f"partition {partition['label']} (serial {serial}): M of N is "
                    f"{'%d of %d' % found if found else 'not reported'} on the HSM, the inventory expects "
                    f"{wanted[0]} of {wanted[1]}")
    if differences:
        raise LunaError("; ".join(differences) + " (the role never changes a policy: that is a key ceremony)")

    groups, ha_only = parse_groups(lunacm.run("hagroup listgroups"))
    problems = []
    for partition in (p for p in params["partitions"] if len(p["serials"]) > 1):
        members = groups.get(partition["label"])
        if members is None:
            problems.append(f"HA group {partition['label']} is not known to LunaCM")
        elif sorted(members) != sorted(partition["serials"]):
            problems.append(f"HA group {partition['label']} has the members {', '.join(members)}, "
                            f"the inventory declares {', '.join(partition['serials'])}")
    if params["ha_only"] and groups and ha_only is not True:
        problems.append("HA-only mode is off")
    if problems:
        raise LunaError("; ".join(problems) + " (from /etc/Chrystoki.conf, which the role writes)")
    return {"slots": slots, "policies": policies, "groups": groups}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lunacm": {"type": "path", "required": True},
            "client_name": {"type": "str", "required": True},
            "partitions": {"type": "list", "elements": "dict", "required": True},
            "ha_only": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    for partition in module.params["partitions"]:
        partition["serials"] = [str(serial) for serial in partition.get("serials") or []]
    try:
        result = converge(module, module.params)
    except LunaError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
