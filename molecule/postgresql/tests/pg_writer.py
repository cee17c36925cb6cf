"""Test helper, not shipped: a counting writer for the zero-lost-commits test.

Runs on a lab host (python3-psycopg2 is there once the postgresql role ran). Inserts 1, 2, 3, ...
into bizra_probe.commits on the primary, one transaction each, and appends a number to the
acknowledged file only after its COMMIT returned. Connection errors (a restart) are retried with
the next number; a number whose COMMIT failed is never counted. Stops when the stop file appears
or after --seconds. With --times, each acknowledged number is also written with the wall-clock
time of its COMMIT and the server that acknowledged it (a multi-host DSN follows a switchover).
"""

import argparse
import os
import time

import psycopg2

parser = argparse.ArgumentParser()
parser.add_argument("--dsn", required=True)
parser.add_argument("--acked", required=True)
parser.add_argument("--stop-file", required=True)
parser.add_argument("--seconds", type=int, default=900)
parser.add_argument("--times", help="file for 'number epoch-seconds server' lines")
args = parser.parse_args()

deadline = time.monotonic() + args.seconds
number, conn, errors = 0, None, 0
times = open(args.times, "a", buffering=1) if args.times else None  # noqa: SIM115 - closed at exit
with open(args.acked, "a", buffering=1) as acked:
    while time.monotonic() < deadline and not os.path.exists(args.stop_file):
        try:
            if conn is None:
                conn = psycopg2.connect(args.dsn, connect_timeout=3)
            number += 1
            with conn.cursor() as cur:
                cur.execute("INSERT INTO bizra_probe.commits (n) VALUES (%s)", (number,))
            conn.commit()
            acked.write(f"{number}\n")
            if times is not None:
                times.write(f"{number} {time.time():.3f} {conn.info.host}\n")
        except psycopg2.Error:
            errors += 1
            try:
                if conn is not None:
                    conn.close()
            except psycopg2.Error:
                pass
            conn = None
            time.sleep(0.2)
        time.sleep(0.02)
print(f"written {number} errors {errors}")
