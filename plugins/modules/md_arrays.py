#!/usr/bin/python
"""Linux md arrays from a declaration: adopt, assemble or create them, never touching a disk with data."""

from __future__ import annotations

DOCUMENTATION = r"""
module: md_arrays
short_description: Converge Linux md RAID arrays and their filesystems, safe by default
description:
  - Finds each declared array's members by NVMe serial or C(/dev/disk/by-id) name, never by
    C(/dev/nvmeXnY) (kernel names move between boots).
  - An array running under its declared name is adopted as it is; one whose members all carry its
    md superblock is assembled; otherwise it is created from its disks (metadata 1.2, internal
    write-intent bitmap). Arrays are never re-created, reshaped or repaired.
  - Safe mode - a disk that carries anything (partition table, filesystem, md or LVM superblock)
    is written only when its serial is in O(wipe_serials); a disk in use (mounted, a member of
    another array) never. Every refusal names the array, the disk, its serial and what is on it,
    and is found before anything is changed.
  - A degraded array, or a running array that differs from the declaration (level, member count,
    chunk, undeclared members), fails naming the array and the serials concerned; nothing changes.
  - Makes the declared filesystem on a new array (XFS su/sw or ext4 stride/stripe-width from the
    chunk and the data disks); an existing filesystem of another type is refused, never reformatted.
  - Applies the block queue settings to the member disks live (the role's udev rule keeps them
    across boots).
  - Supports check mode. With O(apply=false) it only checks (the role's validate entry point).
options:
  arrays:
    description: Declared arrays (the storage role's C(storage_arrays), checked by its argument spec).
    type: list
    elements: dict
    required: true
  wipe_serials:
    description: Serials of disks that may be wiped in this run.
    type: list
    elements: str
    default: []
  queue:
    description: Block queue attributes (scheduler, nr_requests, read_ahead_kb) for every member disk.
    type: dict
    default: {}
  apply:
    description: V(false) only checks and reports (changes nothing, even outside check mode).
    type: bool
    default: true
  replace:
    description:
      - Replace one member of a running array instead of converging O(arrays) - the old disk (when still
        present) is failed and removed, the new one (blank, or listed in O(wipe_serials)) added; md
        rebuilds onto it. Refused, with nothing changed, when the old serial is not a member of a
        degraded array or the new disk is in use or carries data.
    type: dict
    suboptions:
      array: {description: Array name., type: str, required: true}
      old_serial: {description: Serial of the member to replace., type: str, required: true}
      new_serial: {description: Serial of the new disk., type: str, required: true}
author: bizra SRE
"""

EXAMPLES = r"""
- name: Converge the md arrays
  bizra.infra.md_arrays:
    arrays:
      - {name: chain, level: "10", disks: [PHAL0001, PHAL0002, PHAL0003, PHAL0004], chunk_kib: 512,
         layout: n2, filesystem: xfs}
    queue: {scheduler: none, read_ahead_kb: 128}
"""

RETURN = r"""
arrays:
  description: Each declared array after the run (device, path, uuid, level, members with serial and state,
    degraded, sync_action, filesystem type and uuid; action adopted/assembled/created).
  type: list
  returned: always
running:
  description: Every array running on the host (declared or not), for mdadm.conf.
  type: list
  returned: always
changes:
  description: What was (or in check mode would be) changed, one line each.
  type: list
  returned: always
members:
  description: The declared member disks (device, serial), for the udev rule.
  type: list
  returned: unless replace
array:
  description: With O(replace), the array after the swap (sync_action, sync_completed, members).
  type: dict
  returned: with replace
"""

import glob
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bizra.infra.plugins.module_utils.md_arrays import (
    QUEUE_ATTRIBUTES,
    array_summary,
    lsblk_disks,
    mkfs_command,
    parse_detail_export,
    plan,
    plan_replace,
    read,
    resolve,
    sysfs_array,
    wipefs_signatures,
)


class Host:
    def __init__(self, module: AnsibleModule):
        self.module = module

    def run(self, cmd: list[str], check: bool = True) -> str:
        rc, out, err = self.module.run_command(cmd)
        if check and rc != 0:
            self.module.fail_json(msg=f"md_arrays: {' '.join(cmd)} failed (exit {rc}): {(err or out).strip()}")
        return out

    def disks(self, refs: list[str]):
        """Every whole disk; signatures and queue read only for the ones ``refs`` name (a floppy
        or DVD drive cannot be probed)."""
        disks = lsblk_disks(self.run(["lsblk", "--json", "--output", "NAME,PATH,SERIAL,TYPE,MOUNTPOINT"]))
        by_id = {}
        for link in glob.glob("/dev/disk/by-id/*"):
            by_id.setdefault(os.path.realpath(link), []).append(os.path.basename(link))
        for disk in disks:
            disk.by_id = sorted(by_id.get(disk.device, []))
        for disk in {id(d): d for d in (resolve(ref, disks) for ref in refs) if d is not None}.values():
            disk.signatures = self.signatures(disk.device)
            name = os.path.basename(disk.device)
            disk.queue = {attr: read(f"/sys/block/{name}/queue/{attr}") for attr in QUEUE_ATTRIBUTES}
        return disks

    def signatures(self, device: str) -> list[dict]:
        return wipefs_signatures(self.run(["wipefs", "--no-act", "--json", device]))

    def arrays(self):
        arrays = []
        for path in sorted(glob.glob("/sys/block/md*/md")):
            md = path.split("/")[3]
            if read(f"{path}/array_state") in ("", "clear", "inactive"):
                continue
            detail = parse_detail_export(self.run(["mdadm", "--detail", "--export", "/dev/" + md], check=False))
            arrays.append(sysfs_array("/sys", md, detail))
        return arrays

    def filesystem(self, device: str) -> dict:
        found = [s for s in self.signatures(device) if s["type"]]
        return {"type": found[0]["type"], "uuid": found[0]["uuid"]} if found else {"type": "", "uuid": ""}


def current_scheduler(text: str) -> str:
    """'[none] mq-deadline' -> 'none'."""
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return text


def apply_queue(module: AnsibleModule, device: str, serial: str, have: dict, act: bool) -> list[str]:
    """Write the wanted block queue attributes of one disk that differ (live)."""
    changes = []
    queue = {k: str(v) for k, v in (module.params["queue"] or {}).items() if v not in (None, "")}
    for attr, value in sorted(queue.items()):
        current = have.get(attr, "")
        current = current_scheduler(current) if attr == "scheduler" else current
        if current == value:
            continue
        changes.append(f"{os.path.basename(device)} queue/{attr} {current} -> {value}")
        if act:
            try:
                with open(f"/sys/block/{os.path.basename(device)}/queue/{attr}", "w", encoding="utf-8") as handle:
                    handle.write(value)
            except OSError as exc:
                module.fail_json(msg=f"md_arrays: {device} (serial {serial}) does not take queue/{attr}={value}: {exc}")
    return changes


def replace(module: AnsibleModule) -> None:
    """Swap a failed member for a new disk (incident/raid_replace_disk); never re-creates anything."""
    request = module.params["replace"]
    act = not module.check_mode
    host = Host(module)
    disks = host.disks([request["old_serial"], request["new_serial"]])
    running = host.arrays()
    array = next((a for a in running if a.name == request["array"]), None)
    errors, actions, old, new = plan_replace(array, request["array"], request["old_serial"], request["new_serial"],
                                             disks, running, module.params["wipe_serials"])
    if errors:
        module.fail_json(msg="md_arrays: nothing changed. " + " | ".join(errors), errors=errors)
    if act:
        if old is not None:
            host.run(["mdadm", "--manage", array.device, "--fail", old.device], check=False)
            host.run(["mdadm", "--manage", array.device, "--remove", old.device])
        if new.signatures or new.partitions:
            host.run(["wipefs", "--all", "--quiet", new.device])
        host.run(["mdadm", "--manage", array.device, "--add", new.device])
    actions += apply_queue(module, new.device, request["new_serial"], new.queue, act)
    if act:
        array = next(a for a in host.arrays() if a.name == request["array"])
    module.exit_json(changed=True, changes=actions, array=array_summary(array, disks))


def main() -> None:
    module = AnsibleModule(argument_spec={
        "arrays": {"type": "list", "elements": "dict", "default": []},
        "wipe_serials": {"type": "list", "elements": "str", "default": []},
        "queue": {"type": "dict", "default": {}},
        "apply": {"type": "bool", "default": True},
        "replace": {"type": "dict", "options": {
            "array": {"type": "str", "required": True},
            "old_serial": {"type": "str", "required": True},
            "new_serial": {"type": "str", "required": True},
        }},
    }, supports_check_mode=True)
    if module.params["replace"]:
        replace(module)
    declared = module.params["arrays"]
    for spec in declared:
        spec["level"] = str(spec["level"])
    act = module.params["apply"] and not module.check_mode
    host = Host(module)
    disks = host.disks([ref for spec in declared for ref in spec["disks"]])
    running = host.arrays()
    result = plan(declared, disks, running, module.params["wipe_serials"])

    # Filesystems of arrays that run already: another type than declared is refused before any change.
    by_name = {a.name: a for a in running}
    for spec in declared:
        wanted = spec.get("filesystem") or ""
        if spec["name"] in result.adopted and wanted:
            found = host.filesystem(by_name[spec["name"]].device)["type"]
            if found and found != wanted:
                result.errors.append(f"array {spec['name']} ({by_name[spec['name']].device}): carries {found}, "
                                     f"the inventory declares {wanted}: never reformatted")
    # A mount point with files in it would hide them under the array: the data must move first.
    for spec in declared:
        path = spec.get("mount_point") or ""
        if path and os.path.isdir(path) and not os.path.ismount(path) and os.listdir(path):
            entries = sorted(os.listdir(path))
            result.errors.append(f"array {spec['name']}: mount point {path} is not empty and nothing is mounted "
                                 f"there ({len(entries)} entries: {', '.join(entries[:5])}): mounting the array "
                                 "would hide them; move them onto the array or away first")
    if result.errors:
        module.fail_json(msg="md_arrays: nothing changed. " + " | ".join(result.errors), errors=result.errors)

    serial_of = {d.device: d.serial for d in disks}
    changes = [f"wipe {dev} (serial {serial_of[dev]})" for dev in result.wipe]
    changes += [f"assemble array {a['name']} from {', '.join(serial_of[d] for d in a['devices'])}"
                for a in result.assemble]
    changes += [f"create RAID{c['level']} array {c['name']} from {', '.join(serial_of[d] for d in c['devices'])}"
                for c in result.create]
    if act:
        for device in result.wipe:
            host.run(["wipefs", "--all", "--quiet", device])
        for item in result.assemble:
            host.run(["mdadm", "--assemble", f"/dev/md/{item['name']}", f"--uuid={item['uuid']}", *item["devices"]])
        for item in result.create:
            cmd = ["mdadm", "--create", f"/dev/md/{item['name']}", "--run", "--metadata=1.2", "--bitmap=internal",
                   f"--name={item['name']}", f"--level={item['level']}", f"--raid-devices={len(item['devices'])}"]
            if item["level"] == "10":
                cmd.append(f"--layout={item['layout'] or 'n2'}")
            if item["chunk_kib"] and item["level"] != "1":
                cmd.append(f"--chunk={item['chunk_kib']}")
            host.run(cmd + item["devices"])
            # Only what this run just made is blank for sure: an old filesystem at the same offsets
            # of the wiped disks would otherwise show through the new array.
            host.run(["wipefs", "--all", "--quiet", f"/dev/md/{item['name']}"])
        if result.assemble or result.create:
            host.run(["udevadm", "settle"], check=False)
            running = host.arrays()

    by_name = {a.name: a for a in running}
    created = {c["name"] for c in result.create}
    summaries = []
    for spec in declared:
        name, wanted = spec["name"], spec.get("filesystem") or ""
        array = by_name.get(name)
        if array is None:  # check mode, or apply=false: it would be created/assembled
            summaries.append({"name": name, "path": f"/dev/md/{name}", "uuid": "", "action": "create",
                              "filesystem": {"type": wanted, "uuid": ""}, "members": []})
            if wanted:
                changes.append(f"make {wanted} on /dev/md/{name}")
            continue
        summary = array_summary(array, disks)
        summary["action"] = "created" if name in created else "assembled" if name not in result.adopted else "adopted"
        fs = host.filesystem(array.device)
        # No signature at all: new, or made by a run interrupted before its mkfs.
        if wanted and not fs["type"]:
            changes.append(f"make {wanted} on /dev/md/{name}")
            if act:
                members = array.raid_disks or len(spec["disks"])
                host.run(mkfs_command(wanted, array.device, spec["level"], members, array.chunk_kib))
                host.run(["udevadm", "settle"], check=False)
                fs = host.filesystem(array.device)
        elif wanted and fs["type"] != wanted:
            module.fail_json(msg=f"md_arrays: array {name} ({array.device}) carries {fs['type']}, the inventory "
                                 f"declares {wanted}: never reformatted")
        summary["filesystem"] = fs
        summaries.append(summary)

    # Queue settings of every member disk, live (the udev rule makes them survive a boot).
    members = sorted({resolve(ref, disks).device for spec in declared for ref in spec["disks"]})
    queue_of = {d.device: d.queue for d in disks}
    for device in members:
        changes += apply_queue(module, device, serial_of[device], queue_of[device], act)

    module.exit_json(changed=bool(changes) and module.params["apply"], changes=changes, arrays=summaries,
                     running=[array_summary(a, disks) for a in running],
                     members=[{"device": d, "serial": serial_of[d]} for d in members])


if __name__ == "__main__":
    main()
