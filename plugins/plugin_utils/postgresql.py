"""PostgreSQL settings derived from a host's memory and cores (the pgtune rules of thumb).

The seed's production node (512 GB, 64 cores) gets the documented numbers: shared_buffers a
quarter of memory (128GB), effective_cache_size three quarters (384GB), maintenance_work_mem
capped at 2GB, one worker per core, half of them per gather, 8 for maintenance.
"""

from __future__ import annotations

MIB = 1
GIB = 1024 * MIB
# work_mem: what is left after shared_buffers, shared by max_connections sessions that may each
# run up to three sort/hash nodes at once; never below PostgreSQL's own 4MB default.
SORT_NODES_PER_SESSION = 3
WORK_MEM_FLOOR_KB = 4096


def _size(mib: int) -> str:
    """PostgreSQL's own unit spelling, the largest unit that divides evenly."""
    if mib >= GIB and mib % GIB == 0:
        return f"{mib // GIB}GB"
    return f"{mib}MB"


def _whole_gigabytes(mib: int) -> int:
    """Round big values down to whole gigabytes (128GB, not 131072MB); under 1% lost from 16GB up."""
    return mib - mib % GIB if mib >= 16 * GIB else mib


def tuned_settings(memtotal_mb: int, vcpus: int, max_connections: int = 100) -> dict[str, object]:
    """Settings for a dedicated database host with ``memtotal_mb`` of memory and ``vcpus`` cores."""
    memtotal_mb, vcpus, max_connections = int(memtotal_mb), int(vcpus), int(max_connections)
    if memtotal_mb < 256 or vcpus < 1 or max_connections < 1:
        raise ValueError(
            f"cannot size PostgreSQL for {memtotal_mb} MB of memory, {vcpus} CPUs, "
            f"{max_connections} connections (need at least 256 MB, 1 CPU, 1 connection)"
        )
    shared_buffers = _whole_gigabytes(memtotal_mb // 4)
    effective_cache = _whole_gigabytes(memtotal_mb * 3 // 4)
    maintenance_work_mem = min(memtotal_mb // 16, 2 * GIB)
    work_mem_kb = max(WORK_MEM_FLOOR_KB,
                      (memtotal_mb - shared_buffers) * 1024 // (max_connections * SORT_NODES_PER_SESSION))
    return {
        "max_connections": max_connections,
        "shared_buffers": _size(shared_buffers),
        "effective_cache_size": _size(effective_cache),
        "maintenance_work_mem": _size(maintenance_work_mem),
        "work_mem": f"{work_mem_kb}kB",
        "max_worker_processes": max(8, vcpus),
        "max_parallel_workers": vcpus,
        "max_parallel_workers_per_gather": max(1, vcpus // 2),
        "max_parallel_maintenance_workers": min(8, max(1, vcpus // 4)),
    }
