"""Input rules of the storage role that an argument spec cannot say (one message per mistake)."""

from __future__ import annotations

import re
from collections import Counter

MIN_DISKS = {"1": 2, "6": 4, "10": 4}
NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KERNEL_NAME = re.compile(r"^/dev/(nvme\d+n\d+|sd[a-z]+|vd[a-z]+|hd[a-z]+|xvd[a-z]+)")
MODE = re.compile(r"^0?[0-7]{3,4}$")


def storage_input_errors(arrays: list, wipe_serials: list | None = None) -> list[str]:
    """Every mistake in ``storage_arrays`` / ``storage_wipe_serials``, each naming the array and value."""
    errors = []
    refs = [str(d) for a in arrays for d in a.get("disks") or []]
    for ref, count in sorted(Counter(refs).items()):
        if count > 1:
            errors.append(f"disk {ref!r} is listed {count} times in storage_arrays (a disk belongs to one array once)")
    for field in ("name", "mount_point"):
        values = [a.get(field) for a in arrays if a.get(field)]
        for value, count in sorted(Counter(values).items()):
            if count > 1:
                errors.append(f"{field} {value!r} is declared by {count} arrays")
    for array in arrays:
        name, level = str(array.get("name", "")), str(array.get("level", ""))
        label = f"array {name!r}"
        disks = [str(d) for d in array.get("disks") or []]
        if not NAME.match(name):
            errors.append(f"{label}: name must be 1-32 letters, digits, '_' or '-'")
        if level in MIN_DISKS and len(disks) < MIN_DISKS[level]:
            errors.append(f"{label}: RAID{level} needs at least {MIN_DISKS[level]} disks, {len(disks)} declared")
        if level == "10" and len(disks) % 2:
            errors.append(f"{label}: RAID10 needs an even number of disks, {len(disks)} declared")
        for ref in disks:
            if KERNEL_NAME.match(ref):
                errors.append(f"{label}: disk {ref!r} is a kernel name, which moves between boots: "
                              "name it by NVMe serial or /dev/disk/by-id name")
        chunk = array.get("chunk_kib", 512)
        if level != "1" and (not isinstance(chunk, int) or chunk < 4 or chunk > 65536 or chunk & (chunk - 1)):
            errors.append(f"{label}: chunk_kib {chunk!r} must be a power of two from 4 to 65536")
        if array.get("mount_point") and not array.get("filesystem"):
            errors.append(f"{label}: mount_point {array['mount_point']!r} needs a filesystem (xfs or ext4)")
        if array.get("mount_point") and not str(array["mount_point"]).startswith("/"):
            errors.append(f"{label}: mount_point {array['mount_point']!r} must be an absolute path")
        if array.get("mode") and not MODE.match(str(array["mode"])):
            errors.append(f"{label}: mode {array['mode']!r} must be octal like '0750'")
    for serial in wipe_serials or []:
        if str(serial) not in refs:
            errors.append(f"storage_wipe_serials names {serial!r}, which no declared array uses "
                          "(only a declared member may be wiped)")
    return errors
