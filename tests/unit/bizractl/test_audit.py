"""The audit trail: records chained by hash; an edited, removed or reordered record is named."""

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bizractl import audit

ROOT = Path(__file__).resolve().parents[3]


def entry(run_id: str, **extra) -> dict:
    return audit.entry_for(
        run_id=run_id, verb="deploy", playbook=ROOT / "playbooks" / "site.yml", inventory=ROOT / "inventories" / "lab",
        project_root=ROOT, version="0.1.0", limit="svc1", tags=None, skip_tags=None,
        extra_var_names=("geth_version",), exit_code=0, result="success",
        hosts={"svc1": {"ok": 3, "changed": 1, "failed": 0, "unreachable": 0}},
        changes=[{"host": "svc1", "role": "geth", "task": "Restart geth"}],
        now=datetime(2026, 12, 2, 3, 0, tzinfo=UTC), **extra)


@pytest.fixture
def log(tmp_path) -> Path:
    path = tmp_path / "runs" / "audit.log"
    for number in range(1, 4):
        audit.append(path, entry(f"run-{number}"))
    return path


def test_records_are_chained_and_private(log):
    records = audit.read(log)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == audit.GENESIS
    assert [r["prev"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert all(r["hash"] == audit.record_hash(r) for r in records)
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    first = records[0]
    assert first["playbook"] == "site.yml" and first["extra_vars"] == ["geth_version"]
    assert first["inventory_sha256"] == audit.inventory_digest(ROOT / "inventories" / "lab")
    assert len(first["collection_commit"]) >= 40 or first["collection_commit"] == "unknown"
    assert audit.verify(log) == (3, None)


def test_an_edited_record_is_named(log):
    lines = log.read_text().splitlines()
    record = json.loads(lines[1])
    record["result"] = "task failures"
    lines[1] = json.dumps(record, sort_keys=True)
    log.write_text("\n".join(lines) + "\n")
    _, problem = audit.verify(log)
    assert problem.message == "record 2 (line 2, run run-2) was edited: its content does not match its hash"


def test_a_removed_record_is_noticed_at_the_next_one(log):
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], lines[2]]) + "\n")
    _, problem = audit.verify(log)
    assert problem.message.startswith("record 3 (line 2, run run-3) does not follow record 1")


def test_reordered_records_are_noticed(log):
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], lines[2], lines[1]]) + "\n")
    _, problem = audit.verify(log)
    assert "does not follow record 1" in problem.message


def test_an_edited_and_rehashed_record_still_breaks_the_chain(log):
    lines = log.read_text().splitlines()
    record = json.loads(lines[0])
    record["user"] = "someone-else"
    record["hash"] = audit.record_hash(record)
    lines[0] = json.dumps(record, sort_keys=True)
    log.write_text("\n".join(lines) + "\n")
    _, problem = audit.verify(log)
    assert problem.message.startswith("record 2 (line 2, run run-2) does not follow record 1")


def test_the_cli_lists_and_verifies(log, tmp_path):
    env = {**os.environ, "BIZRA_RUNS_DIR": str(log.parent)}
    listed = subprocess.run([sys.executable, "-m", "bizractl", "--project", str(ROOT), "audit", "list", "--json"],
                            env=env, capture_output=True, text=True, check=True)
    assert [json.loads(line)["run_id"] for line in listed.stdout.splitlines()] == ["run-1", "run-2", "run-3"]
    ok = subprocess.run([sys.executable, "-m", "bizractl", "--project", str(ROOT), "audit", "verify"],
                        env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "3 record(s), chain intact" in ok.stdout
    log.write_text(log.read_text().replace("run-2", "run-X"))
    bad = subprocess.run([sys.executable, "-m", "bizractl", "--project", str(ROOT), "audit", "verify"],
                         env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "record 2 (line 2, run run-X) was edited" in bad.stderr
