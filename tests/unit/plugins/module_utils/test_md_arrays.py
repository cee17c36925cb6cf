"""The storage role's safety rules, on probed host states (no disks needed)."""

from __future__ import annotations

import json

import pytest

from plugins.module_utils.md_arrays import (
    Array,
    Disk,
    lsblk_disks,
    mkfs_command,
    parse_detail_export,
    plan,
    plan_replace,
    sysfs_array,
    wipefs_signatures,
)
from plugins.plugin_utils.storage import storage_input_errors

SERIALS = ["OPT0", "OPT1", "OPT2", "OPT3"]


def blank_disks(count: int = 6) -> list[Disk]:
    return [Disk(device=f"/dev/nvme{i}n1", serial=f"OPT{i}", by_id=[f"nvme-INTEL_SSDPF21Q_OPT{i}"])
            for i in range(count)]


def chain(**extra) -> dict:
    return {"name": "chain", "level": "10", "disks": list(SERIALS), "chunk_kib": 512, "layout": "n2", **extra}


def running_chain(**extra) -> Array:
    members = {f"/dev/nvme{i}n1": "in_sync" for i in range(4)}
    values = {"device": "/dev/md127", "name": "chain", "uuid": "a:b:c:d", "level": "raid10", "raid_disks": 4,
              "chunk_kib": 512, "layout": 0x102, "members": members}
    values.update(extra)
    return Array(**values)


def test_blank_disks_are_created_into_the_array():
    result = plan([chain()], blank_disks(), [], [])
    assert result.errors == []
    assert result.create == [{"name": "chain", "level": "10", "layout": "n2", "chunk_kib": 512,
                               "devices": ["/dev/nvme0n1", "/dev/nvme1n1", "/dev/nvme2n1", "/dev/nvme3n1"]}]
    assert result.wipe == [] and result.adopted == []


def test_by_id_names_resolve_to_the_same_disk():
    spec = chain(disks=["OPT0", "/dev/disk/by-id/nvme-INTEL_SSDPF21Q_OPT1", "nvme-INTEL_SSDPF21Q_OPT2", "OPT3"])
    assert plan([spec], blank_disks(), [], []).create[0]["devices"][1:3] == ["/dev/nvme1n1", "/dev/nvme2n1"]


def test_a_disk_with_a_filesystem_is_refused_naming_it_and_nothing_is_planned():
    disks = blank_disks()
    disks[2].signatures = [{"type": "ext4", "uuid": "u", "label": "old", "offset": "0x438"}]
    result = plan([chain()], disks, [], [])
    assert len(result.errors) == 1
    assert "/dev/nvme2n1 (serial OPT2) carries ext4 (label old)" in result.errors[0]
    assert "storage_wipe_serials" in result.errors[0]
    assert result.create == [] and result.wipe == []


def test_a_partition_table_alone_is_data_too():
    disks = blank_disks()
    disks[0].partitions = ["/dev/nvme0n1p1"]
    assert "partitions /dev/nvme0n1p1" in plan([chain()], disks, [], []).errors[0]


def test_a_listed_serial_is_wiped_then_created():
    disks = blank_disks()
    disks[1].signatures = [{"type": "gpt", "uuid": "", "label": "", "offset": "0x200"}]
    result = plan([chain()], disks, [], ["OPT1"])
    assert result.errors == [] and result.wipe == ["/dev/nvme1n1"] and result.create


def test_a_disk_in_use_is_refused_even_when_listed_for_wiping():
    disks = blank_disks()
    disks[3].signatures = [{"type": "xfs", "uuid": "u", "label": "", "offset": "0x0"}]
    disks[3].mounted = True
    errors = plan([chain()], disks, [], ["OPT3"]).errors
    assert len(errors) == 1 and "is in use" in errors[0] and "OPT3" in errors[0]


def test_a_member_of_another_running_array_is_refused():
    other = Array(device="/dev/md0", name="system", level="raid1", raid_disks=2,
                  members={"/dev/nvme3n1": "in_sync", "/dev/nvme4n1": "in_sync"})
    errors = plan([chain()], blank_disks(), [other], ["OPT3"]).errors
    assert len(errors) == 1 and "/dev/nvme3n1 (serial OPT3) is in use" in errors[0]


def test_unknown_serial_is_named_with_the_serials_the_host_has():
    errors = plan([chain(disks=["OPT0", "OPT1", "OPT2", "NOPE"])], blank_disks(), [], []).errors
    assert errors == ["array chain: no disk has the serial or by-id name 'NOPE' "
                      "(serials here: OPT0, OPT1, OPT2, OPT3, OPT4, OPT5)"]


def test_a_running_array_as_declared_is_adopted_never_created():
    result = plan([chain()], blank_disks(), [running_chain()], [])
    assert result.errors == [] and result.adopted == ["chain"] and result.create == []


def test_an_assemblable_array_is_assembled_not_created():
    disks = blank_disks()
    for disk in disks[:4]:
        disk.signatures = [{"type": "linux_raid_member", "uuid": "1234", "label": "geth1:chain", "offset": "0x1000"}]
    result = plan([chain()], disks, [], [])
    assert result.errors == [] and result.create == []
    assert result.assemble == [{"name": "chain", "uuid": "1234", "devices": [d.device for d in disks[:4]]}]


def test_a_foreign_md_superblock_is_refused():
    disks = blank_disks()
    disks[0].signatures = [{"type": "linux_raid_member", "uuid": "99", "label": "old:backup", "offset": "0x1000"}]
    errors = plan([chain()], disks, [], []).errors
    assert len(errors) == 1 and "carries linux_raid_member (label old:backup)" in errors[0]


def test_degraded_array_is_reported_with_the_missing_serial_and_nothing_changes():
    array = running_chain(degraded=1, members={f"/dev/nvme{i}n1": "in_sync" for i in (0, 1, 3)})
    result = plan([chain()], blank_disks(), [array], [])
    assert len(result.errors) == 1
    assert "DEGRADED (1 of 4 members missing)" in result.errors[0] and "not active: OPT2" in result.errors[0]
    assert "incident/raid_replace_disk" in result.errors[0]
    assert result.adopted == [] and result.create == []


def test_a_faulty_member_counts_as_missing():
    members = {f"/dev/nvme{i}n1": "in_sync" for i in range(4)}
    members["/dev/nvme1n1"] = "faulty"
    errors = plan([chain()], blank_disks(), [running_chain(degraded=1, members=members)], []).errors
    assert "not active: OPT1" in errors[0]


@pytest.mark.parametrize(("extra", "text"), [
    ({"level": "raid1"}, "runs as raid1, the inventory declares RAID10"),
    ({"raid_disks": 6}, "has 6 member slots, the inventory declares 4"),
    ({"chunk_kib": 64}, "chunk 64K, the inventory declares 512K"),
    ({"layout": 0x201}, "RAID10 layout 0x201, the inventory declares n2"),
])
def test_a_running_array_unlike_its_declaration_is_refused(extra, text):
    errors = plan([chain()], blank_disks(), [running_chain(**extra)], []).errors
    assert any(text in error for error in errors), errors


def test_an_undeclared_member_after_a_replacement_asks_for_the_inventory():
    members = {f"/dev/nvme{i}n1": "in_sync" for i in (0, 1, 3, 4)}
    errors = plan([chain()], blank_disks(), [running_chain(members=members)], []).errors
    assert errors == ["array chain (/dev/md127): members OPT4 are not declared and OPT2 are not members: "
                      "after a replacement, put the new serial in storage_arrays"]


def test_one_bad_array_stops_the_good_one_too():
    disks = blank_disks(8)
    disks[7].signatures = [{"type": "ext4", "uuid": "", "label": "", "offset": "0x438"}]
    wal = {"name": "wal", "level": "1", "disks": ["OPT6", "OPT7"]}
    result = plan([chain(), wal], disks, [], [])
    assert len(result.errors) == 1 and result.create == []


def test_replace_fails_and_removes_the_old_member_and_adds_a_blank_disk():
    errors, actions, old, new = plan_replace(running_chain(), "chain", "OPT2", "OPT4", blank_disks(),
                                             [running_chain()], [])
    assert errors == [] and old.device == "/dev/nvme2n1" and new.device == "/dev/nvme4n1"
    assert actions[0].startswith("fail and remove /dev/nvme2n1 (serial OPT2") and "add /dev/nvme4n1" in actions[-1]


def test_replace_of_a_pulled_disk_needs_a_degraded_array():
    degraded = running_chain(degraded=1, members={f"/dev/nvme{i}n1": "in_sync" for i in (0, 1, 3)})
    disks = [d for d in blank_disks() if d.serial != "OPT2"]
    errors, _, old, _ = plan_replace(degraded, "chain", "OPT2", "OPT4", disks, [degraded], [])
    assert errors == [] and old is None
    errors, *_ = plan_replace(running_chain(), "chain", "OPT5", "OPT4", blank_disks(), [running_chain()], [])
    assert "OPT5 is not a member and the array is not degraded" in errors[0]


def test_replace_refuses_a_new_disk_with_data_unless_listed():
    disks = blank_disks()
    disks[4].signatures = [{"type": "xfs", "uuid": "", "label": "", "offset": "0x0"}]
    errors, actions, *_ = plan_replace(running_chain(), "chain", "OPT2", "OPT4", disks, [running_chain()], [])
    assert "new disk /dev/nvme4n1 (serial OPT4) carries xfs" in errors[0] and actions == []
    errors, actions, *_ = plan_replace(running_chain(), "chain", "OPT2", "OPT4", disks, [running_chain()], ["OPT4"])
    assert errors == [] and any(a.startswith("wipe /dev/nvme4n1") for a in actions)


def test_replace_refuses_a_member_of_the_array_and_an_unknown_array():
    errors, *_ = plan_replace(running_chain(), "chain", "OPT2", "OPT1", blank_disks(), [running_chain()], [])
    assert "OPT1) is a member of /dev/md127" in errors[0]
    errors, *_ = plan_replace(None, "nope", "OPT2", "OPT4", blank_disks(), [running_chain()], [])
    assert errors == ["no running array is named 'nope' (running: chain)"]


@pytest.mark.parametrize(("fstype", "level", "members", "want"), [
    ("xfs", "10", 4, ["mkfs.xfs", "-q", "-d", "su=512k,sw=2", "/dev/md127"]),
    ("xfs", "6", 6, ["mkfs.xfs", "-q", "-d", "su=512k,sw=4", "/dev/md127"]),
    ("xfs", "1", 2, ["mkfs.xfs", "-q", "/dev/md127"]),
    ("ext4", "10", 4, ["mkfs.ext4", "-q", "-F", "-E", "stride=128,stripe_width=256", "/dev/md127"]),
])
def test_mkfs_carries_the_array_geometry(fstype, level, members, want):
    assert mkfs_command(fstype, "/dev/md127", level, members, 512) == want


def test_probe_parsers():
    tree = {"blockdevices": [
        {"name": "nvme0n1", "path": "/dev/nvme0n1", "serial": "OPT0", "type": "disk", "mountpoint": None,
         "children": [{"name": "md127", "path": "/dev/md127", "type": "raid10", "mountpoint": "/var/lib/geth"}]},
        {"name": "vda", "path": "/dev/vda", "serial": None, "type": "disk", "mountpoint": None,
         "children": [{"name": "vda1", "path": "/dev/vda1", "type": "part", "mountpoint": "/"}]},
        {"name": "sr0", "path": "/dev/sr0", "serial": "QM3", "type": "rom", "mountpoint": None}]}
    disks = lsblk_disks(json.dumps(tree))
    assert [(d.device, d.serial, d.holders, d.partitions, d.mounted) for d in disks] == [
        ("/dev/nvme0n1", "OPT0", ["/dev/md127"], [], True), ("/dev/vda", "", [], ["/dev/vda1"], True)]
    assert wipefs_signatures('{"signatures": []}') == []
    assert wipefs_signatures(json.dumps({"signatures": [{"device": "nvme0n1", "offset": "0x1000", "type":
                                         "linux_raid_member", "uuid": "x", "label": None}]}))[0]["label"] == ""
    assert parse_detail_export("MD_LEVEL=raid10\nMD_NAME=geth1:chain\n")["MD_NAME"] == "geth1:chain"


def test_sysfs_array_reads_a_degraded_raid10(tmp_path):
    md = tmp_path / "block" / "md127" / "md"
    for name, value in {"level": "raid10", "raid_disks": "4", "chunk_size": "524288", "layout": "258",
                        "degraded": "1", "sync_action": "recover", "sync_completed": "100 / 2048"}.items():
        (md / name).parent.mkdir(parents=True, exist_ok=True)
        (md / name).write_text(value + "\n")
    for dev, state in {"nvme0n1": "in_sync", "nvme1n1": "in_sync", "nvme3n1": "in_sync", "nvme4n1": "spare"}.items():
        (md / f"dev-{dev}").mkdir()
        (md / f"dev-{dev}" / "state").write_text(state + "\n")
    array = sysfs_array(str(tmp_path), "md127", {"MD_NAME": "geth1:chain", "MD_UUID": "u", "MD_METADATA": "1.2"})
    assert (array.name, array.full_name, array.level, array.raid_disks, array.chunk_kib, array.layout,
            array.degraded, array.sync_action) == ("chain", "geth1:chain", "raid10", 4, 512, 258, 1, "recover")
    assert array.members["/dev/nvme4n1"] == "spare"


@pytest.mark.parametrize(("arrays", "wipe", "text"), [
    ([chain(disks=SERIALS[:3])], [], "RAID10 needs at least 4 disks, 3 declared"),
    ([chain(disks=[*SERIALS, "OPT4"])], [], "RAID10 needs an even number of disks, 5 declared"),
    ([chain(disks=["OPT0", "OPT1", "OPT2", "OPT0"])], [], "disk 'OPT0' is listed 2 times"),
    ([chain(chunk_kib=500)], [], "chunk_kib 500 must be a power of two"),
    ([chain(chunk_kib=2)], [], "chunk_kib 2 must be a power of two"),
    ([chain(disks=["/dev/nvme0n1", "OPT1", "OPT2", "OPT3"])], [], "'/dev/nvme0n1' is a kernel name"),
    ([chain(mount_point="/var/lib/geth")], [], "needs a filesystem"),
    ([chain(), chain(disks=["OPT4", "OPT5", "OPT6", "OPT7"])], [], "name 'chain' is declared by 2 arrays"),
    ([chain(name="bad name")], [], "name must be 1-32 letters"),
    ([chain()], ["OPT9"], "storage_wipe_serials names 'OPT9', which no declared array uses"),
    ([{"name": "wal", "level": "1", "disks": ["OPT0"]}], [], "RAID1 needs at least 2 disks, 1 declared"),
])
def test_input_errors_name_the_array_and_the_value(arrays, wipe, text):
    errors = storage_input_errors(arrays, wipe)
    assert any(text in error for error in errors), errors


def test_good_input_has_no_errors():
    assert storage_input_errors([chain(filesystem="xfs", mount_point="/var/lib/geth"),
                                 {"name": "wal", "level": "1", "disks": ["OPT4", "OPT5"], "chunk_kib": 512}],
                                ["OPT4"]) == []


def test_one_disk_named_by_serial_and_by_id_is_refused():
    spec = chain(disks=["OPT0", "OPT1", "OPT2", "nvme-INTEL_SSDPF21Q_OPT0"])
    assert plan([spec], blank_disks(), [], []).errors == [
        "array chain: disks OPT0 are named twice (by serial and by-id name)"]
