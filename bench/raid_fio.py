"""Random reads on an md array against one of its member disks, side by side in one run (fio).

  .venv/bin/python bench/raid_fio.py -i INVENTORY HOST [--array chain] [--runtime 20]

Needs a lab host (or any host reached over `bizractl lab ssh`) where the storage role made the
array. Read-only (fio --readonly): 4 KiB random reads (libaio), queue depth 32, 4 jobs, direct
I/O, first on /dev/md/<array>, then on one member, then the array again. Prints IOPS and mean/p99
completion latency per run: a number to record, not an assertion (under the lab's emulated NVMe
the ratio says more than the absolute values).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def ssh(inventory: str, host: str, command: str) -> str:
    return subprocess.run([str(BIN / "bizractl"), "lab", "ssh", "-i", inventory, host, "--", command],
                          check=True, capture_output=True, text=True).stdout


def fio(inventory: str, host: str, device: str, runtime: int) -> dict:
    out = ssh(inventory, host, f"fio --readonly --name=randread --filename={device} --rw=randread --bs=4k "
                               f"--direct=1 --ioengine=libaio --iodepth=32 --numjobs=4 --group_reporting "
                               f"--time_based --runtime={runtime} --output-format=json")
    job = json.loads(out[out.index("{"):])["jobs"][0]["read"]
    lat = job["clat_ns"]
    return {"iops": job["iops"], "mean_us": lat["mean"] / 1000, "p99_us": lat["percentile"]["99.000000"] / 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", required=True)
    parser.add_argument("host")
    parser.add_argument("--array", default="chain")
    parser.add_argument("--runtime", type=int, default=20)
    args = parser.parse_args()
    md = ssh(args.inventory, args.host, f"basename $(readlink -f /dev/md/{args.array})").strip()
    member = "/dev/" + sorted(ssh(args.inventory, args.host, f"ls /sys/block/{md}/slaves").split())[0]
    rows = [(f"/dev/md/{args.array}", f"/dev/md/{args.array}"), (f"member {member}", member),
            (f"/dev/md/{args.array}", f"/dev/md/{args.array}")]
    print(f"{'device':<24} {'IOPS':>10} {'mean us':>10} {'p99 us':>10}")
    results = []
    for label, device in rows:
        result = fio(args.inventory, args.host, device, args.runtime)
        results.append(result)
        print(f"{label:<24} {result['iops']:>10.0f} {result['mean_us']:>10.1f} {result['p99_us']:>10.1f}", flush=True)
    array_iops = (results[0]["iops"] + results[2]["iops"]) / 2
    print(f"array / member random-read IOPS: {array_iops / results[1]['iops']:.2f}x")


if __name__ == "__main__":
    main()
