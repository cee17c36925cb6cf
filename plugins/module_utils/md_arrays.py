"""Linux md arrays as data: what the host has (probe) and what a declaration asks of it (plan).

The planning half is pure (it reads only the probe's result), so the safety rules are unit-tested
without disks: a disk is never written unless it is blank or its serial is listed for wiping in
this run, an array that is running (or assemblable) under its declared name is adopted and never
re-created, and a degraded array or a declaration that differs from the running array stops the
run naming the array and the member's serial. The module (bizra.infra.md_arrays) runs the plan.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

LEVELS = {"1": "raid1", "6": "raid6", "10": "raid10"}
# md's layout numbers for RAID10 near/far/offset copies ("n2" = near, 2 copies = 0x102).
RAID10_LAYOUTS = {"n2": 0x102, "f2": 0x201, "o2": 0x10201, "n3": 0x103, "f3": 0x301, "o3": 0x10301}
# Everything wipefs finds (a partition table, a filesystem, an md or LVM superblock) counts as
# something on the disk: there is no signature safe mode may ignore.
QUEUE_ATTRIBUTES = ("scheduler", "nr_requests", "read_ahead_kb")


@dataclass
class Disk:
    """A whole disk the host has: its stable identity and what is written on it."""

    device: str                                     # /dev/nvme0n1 (moves between boots)
    serial: str = ""
    by_id: list[str] = field(default_factory=list)  # names under /dev/disk/by-id
    signatures: list[dict] = field(default_factory=list)  # wipefs: type, uuid, label, offset
    partitions: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)      # md127, dm-0: what uses it now
    mounted: bool = False
    queue: dict = field(default_factory=dict)


@dataclass
class Array:
    """A running md array."""

    device: str            # /dev/md127
    name: str = ""         # the name part of MD_NAME (host:name)
    full_name: str = ""    # MD_NAME as md keeps it (host:name)
    uuid: str = ""
    level: str = ""        # raid10
    raid_disks: int = 0
    chunk_kib: int = 0
    layout: int = -1
    metadata: str = ""
    degraded: int = 0
    sync_action: str = ""
    sync_completed: str = ""
    members: dict = field(default_factory=dict)  # /dev/nvme0n1 -> state (in_sync, faulty, spare, ...)


def parse_detail_export(text: str) -> dict:
    """``mdadm --detail --export`` / ``--examine --export``: KEY=value lines."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def md_name(full_name: str) -> str:
    """'host:chain' -> 'chain' (md keeps the creating host's name before the colon)."""
    return full_name.rsplit(":", 1)[-1]


def lsblk_disks(lsblk_json: str) -> list[Disk]:
    """Whole disks from ``lsblk -J -o NAME,PATH,SERIAL,TYPE,MOUNTPOINT`` with children (partitions, md)."""
    disks = []
    for node in json.loads(lsblk_json).get("blockdevices", []):
        if node.get("type") != "disk":
            continue
        children = node.get("children") or []
        disks.append(Disk(
            device=node["path"],
            serial=(node.get("serial") or "").strip(),
            partitions=[c["path"] for c in children if c.get("type") == "part"],
            holders=[c["path"] for c in children if c.get("type") != "part"],
            mounted=bool(node.get("mountpoint")) or any(_mounted(c) for c in children),
        ))
    return disks


def _mounted(node: dict) -> bool:
    return bool(node.get("mountpoint")) or any(_mounted(c) for c in node.get("children") or [])


def wipefs_signatures(wipefs_json: str) -> list[dict]:
    if not wipefs_json.strip():
        return []
    return [{k: s.get(k) or "" for k in ("type", "uuid", "label", "offset")}
            for s in json.loads(wipefs_json).get("signatures", [])]


def data_disks(level: str, members: int) -> int:
    """Disks that carry distinct data in one stripe (RAID10 n2: half, RAID6: two for parity)."""
    return {"1": 1, "6": members - 2, "10": members // 2}[level]


def mkfs_command(fstype: str, device: str, level: str, members: int, chunk_kib: int) -> list[str]:
    """mkfs with the array's geometry (XFS su/sw, ext4 stride/stripe-width in 4 KiB blocks)."""
    data = data_disks(level, members)
    if fstype == "xfs":
        cmd = ["mkfs.xfs", "-q"]
        if level != "1":
            cmd += ["-d", f"su={chunk_kib}k,sw={data}"]
        return [*cmd, device]
    cmd = ["mkfs.ext4", "-q", "-F"]
    if level != "1":
        stride = max(chunk_kib // 4, 1)
        cmd += ["-E", f"stride={stride},stripe_width={stride * data}"]
    return [*cmd, device]


def _signature_text(disk: Disk) -> str:
    found = [s["type"] + (f" (label {s['label']})" if s.get("label") else "") for s in disk.signatures]
    if disk.partitions:
        found.append("partitions " + ", ".join(disk.partitions))
    if disk.holders:
        found.append("in use by " + ", ".join(disk.holders))
    return "; ".join(found)


@dataclass
class Plan:
    errors: list[str] = field(default_factory=list)
    wipe: list[str] = field(default_factory=list)        # devices
    assemble: list[dict] = field(default_factory=list)   # {name, uuid, devices}
    create: list[dict] = field(default_factory=list)     # {name, level, layout, chunk_kib, devices}
    adopted: list[str] = field(default_factory=list)     # names of running arrays that match


def resolve(ref: str, disks: list[Disk]) -> Disk | None:
    """A member given by NVMe serial or by a /dev/disk/by-id name (never /dev/nvmeXnY)."""
    name = ref.removeprefix("/dev/disk/by-id/")
    for disk in disks:
        if ref == disk.serial or name in disk.by_id:
            return disk
    return None


def plan(declared: list[dict], disks: list[Disk], running: list[Array], wipe_serials: list[str]) -> Plan:
    """What converging ``declared`` takes, or why it must not be touched (every reason at once)."""
    result = Plan()
    by_name = {a.name: a for a in running if a.name}
    member_of = {dev: a for a in running for dev in a.members}
    for spec in declared:
        name = spec["name"]
        label = f"array {name}"
        members: list[Disk] = []
        for ref in spec["disks"]:
            disk = resolve(ref, disks)
            if disk is None:
                known = ", ".join(sorted(d.serial for d in disks if d.serial)) or "none"
                result.errors.append(f"{label}: no disk has the serial or by-id name {ref!r} (serials here: {known})")
            else:
                members.append(disk)
        if len(members) != len(spec["disks"]):
            continue
        twice = sorted({d.serial for d in members if members.count(d) > 1})
        if twice:
            result.errors.append(f"{label}: disks {', '.join(twice)} are named twice (by serial and by-id name)")
            continue
        current = by_name.get(name)
        if current is not None:
            differences = check_running(spec, current, members, disks)
            result.errors += differences
            if not differences:
                result.adopted.append(name)
            continue
        assemble = assemblable(name, members)
        if assemble:
            result.assemble.append({"name": name, "uuid": assemble, "devices": [d.device for d in members]})
            continue
        for disk in members:
            in_use = member_of.get(disk.device) or disk.holders or disk.mounted
            if in_use:
                result.errors.append(f"{label}: disk {disk.device} (serial {disk.serial}) is in use "
                                     f"({_signature_text(disk) or 'mounted'}): not touched")
            elif disk.signatures or disk.partitions:
                if disk.serial in wipe_serials:
                    result.wipe.append(disk.device)
                else:
                    result.errors.append(
                        f"{label}: disk {disk.device} (serial {disk.serial}) carries {_signature_text(disk)}: "
                        f"not touched (safe mode). List {disk.serial} in storage_wipe_serials to wipe it in this run")
        result.create.append({"name": name, "level": spec["level"], "layout": spec.get("layout") or "",
                              "chunk_kib": spec.get("chunk_kib") or 0, "devices": [d.device for d in members]})
    if result.errors:
        result.wipe, result.assemble, result.create = [], [], []
    return result


def assemblable(name: str, members: list[Disk]) -> str:
    """The array UUID when every declared disk carries an md superblock of this array's name."""
    uuids = set()
    for disk in members:
        raid = [s for s in disk.signatures if s["type"] == "linux_raid_member" and md_name(s["label"]) == name]
        if not raid:
            return ""
        uuids.add(raid[0]["uuid"])
    return uuids.pop() if len(uuids) == 1 else ""


def check_running(spec: dict, current: Array, members: list[Disk], disks: list[Disk]) -> list[str]:
    """A running array under the declared name: adopted as it is, or why the inventory differs."""
    label = f"array {spec['name']} ({current.device})"
    errors = []
    if current.level != LEVELS[spec["level"]]:
        errors.append(f"{label}: runs as {current.level}, the inventory declares RAID{spec['level']}; "
                      "md arrays are never re-created by this role")
    if current.raid_disks != len(spec["disks"]):
        errors.append(f"{label}: has {current.raid_disks} member slots, the inventory declares {len(spec['disks'])}")
    if spec.get("chunk_kib") and spec["level"] != "1" and current.chunk_kib != spec["chunk_kib"]:
        errors.append(f"{label}: chunk {current.chunk_kib}K, the inventory declares {spec['chunk_kib']}K")
    layout = spec.get("layout") or "n2"
    if spec["level"] == "10" and current.layout != RAID10_LAYOUTS.get(layout):
        errors.append(f"{label}: RAID10 layout {current.layout:#x}, the inventory declares {layout}")
    serial_of = {d.device: d.serial for d in disks}
    healthy = {dev for dev, state in current.members.items() if "faulty" not in state}
    declared = {d.device for d in members}
    missing = sorted(serial_of.get(d.device, d.device) for d in members if d.device not in healthy)
    extra = sorted(serial_of.get(dev, dev) for dev in healthy - declared)
    if current.degraded:
        recovery = (f"; {current.sync_action} {current.sync_completed}" if current.sync_action not in ("", "idle")
                    else "")
        errors.append(f"{label}: DEGRADED ({current.degraded} of {current.raid_disks} members missing{recovery}); "
                      f"declared members not active: {', '.join(missing) or 'none'}. Nothing changed: "
                      "replace the failed disk with incident/raid_replace_disk")
    elif missing or extra:
        errors.append(f"{label}: members {', '.join(extra)} are not declared and {', '.join(missing)} are not "
                      "members: after a replacement, put the new serial in storage_arrays")
    return errors


def array_summary(array: Array, disks: list[Disk]) -> dict:
    serial_of = {d.device: d.serial for d in disks}
    return {
        "name": array.name, "device": array.device, "path": f"/dev/md/{array.name}" if array.name else array.device,
        "md_name": array.full_name, "uuid": array.uuid, "level": array.level, "raid_disks": array.raid_disks,
        "chunk_kib": array.chunk_kib,
        "metadata": array.metadata, "degraded": array.degraded, "sync_action": array.sync_action,
        "sync_completed": array.sync_completed,
        "members": [{"device": dev, "serial": serial_of.get(dev, ""), "state": state}
                    for dev, state in sorted(array.members.items())],
    }


def read(path: str, default: str = "") -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return default


def sysfs_array(sys_root: str, md: str, detail: dict) -> Array:
    """A running array from /sys/block/<md>/md and ``mdadm --detail --export``."""
    base = os.path.join(sys_root, "block", md, "md")
    members = {}
    for entry in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        if entry.startswith("dev-"):
            members["/dev/" + entry[4:]] = read(os.path.join(base, entry, "state"))
    layout = read(os.path.join(base, "layout"), "-1")
    return Array(
        device="/dev/" + md, name=md_name(detail.get("MD_NAME", "")), full_name=detail.get("MD_NAME", ""),
        uuid=detail.get("MD_UUID", ""),
        level=read(os.path.join(base, "level")), raid_disks=int(read(os.path.join(base, "raid_disks"), "0") or 0),
        chunk_kib=int(read(os.path.join(base, "chunk_size"), "0") or 0) // 1024,
        layout=int(layout) if layout.lstrip("-").isdigit() else -1, metadata=detail.get("MD_METADATA", ""),
        degraded=int(read(os.path.join(base, "degraded"), "0") or 0),
        sync_action=read(os.path.join(base, "sync_action")), sync_completed=read(os.path.join(base, "sync_completed")),
        members=members,
    )


def plan_replace(array: Array | None, name: str, old_serial: str, new_serial: str, disks: list[Disk],
                 running: list[Array], wipe_serials: list[str]) -> tuple[list, list, Disk | None, Disk | None]:
    """Replacing a failed member: (errors, actions, old disk or None if it is gone, new disk)."""
    errors, actions = [], []
    if array is None:
        return [f"no running array is named {name!r} (running: "
                f"{', '.join(sorted(a.name or a.device for a in running)) or 'none'})"], [], None, None
    label = f"array {name} ({array.device})"
    old, new = resolve(old_serial, disks), resolve(new_serial, disks)
    if old is not None and old.device in array.members:
        state = array.members[old.device]
        actions.append(f"fail and remove {old.device} (serial {old_serial}, state {state or 'unknown'})")
    elif not array.degraded:
        errors.append(f"{label}: {old_serial} is not a member and the array is not degraded: nothing to replace")
    if new is None:
        known = ", ".join(sorted(d.serial for d in disks if d.serial)) or "none"
        errors.append(f"{label}: no disk has the serial {new_serial!r} (serials here: {known})")
    else:
        owner = next((a for a in running if new.device in a.members), None)
        if owner is not None:
            errors.append(f"{label}: the new disk {new.device} (serial {new_serial}) is a member of {owner.device}: "
                          "not touched")
        elif new.holders or new.mounted:
            errors.append(f"{label}: the new disk {new.device} (serial {new_serial}) is in use "
                          f"({_signature_text(new) or 'mounted'}): not touched")
        elif new.signatures or new.partitions:
            if new_serial in wipe_serials:
                actions.append(f"wipe {new.device} (serial {new_serial}: {_signature_text(new)})")
            else:
                errors.append(f"{label}: the new disk {new.device} (serial {new_serial}) carries "
                              f"{_signature_text(new)}: not touched (safe mode). List {new_serial} in "
                              "storage_wipe_serials to wipe it in this run")
        actions.append(f"add {new.device} (serial {new_serial}) and rebuild")
    present = old if old is not None and old.device in array.members else None
    return errors, (actions if not errors else []), present, new
