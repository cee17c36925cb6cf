"""The run's life: settings order, prepare (bad input before anything exists), record (summary,
private files, no -e file left), the progress log's task lines; stopping a run (a real
ansible-playbook on localhost: nothing of it left behind)."""

import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from bizractl import lifecycle, runlock
from bizractl.errors import BadInputError
from bizractl.exitcodes import EXIT_INTERRUPTED
from bizractl.recorder import RunRecorder
from bizractl.report import ProgressView
from bizractl.runlock import LockedError
from bizractl.settings import Settings


def test_settings_order_flag_then_environment_then_default(tmp_path):
    env = {"BIZRA_PROJECT": "/from/env", "BIZRA_RUNS_KEEP": "5", "BIZRA_RUNS_DIR": str(tmp_path)}
    assert Settings.load(env, project="/from/flag", runs_keep=9).project == "/from/flag"
    assert Settings.load(env, runs_keep=9).runs_keep == 9
    from_env = Settings.load(env)
    assert (from_env.project, from_env.runs_keep, from_env.runs_dir) == ("/from/env", 5, tmp_path)
    default = Settings.load({})
    assert (default.project, default.runs_keep, default.runs_dir) == (None, 20, None)
    with pytest.raises(BadInputError, match="BIZRA_RUNS_KEEP='many'"):
        Settings.load({"BIZRA_RUNS_KEEP": "many"})


def test_prepare_refuses_bad_extra_vars_before_making_anything(project_root, tmp_path):
    settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs")}, project=str(project_root))
    with pytest.raises(BadInputError, match="-e #2: not a valid JSON/YAML mapping"):
        lifecycle.prepare(settings, lifecycle.RunRequest("site", extra_vars=("a=1", "{bad json")))
    assert not (tmp_path / "runs").exists()


def test_prepare_then_record_keeps_a_private_summary_and_no_extra_vars_file(project_root, tmp_path):
    settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs")}, project=str(project_root))
    spec = lifecycle.prepare(settings, lifecycle.RunRequest("site", check=True, extra_vars=("token=s3cret",),
                                                            validate=False))
    assert spec.title == "bizractl plan site.yml" and spec.run_dir.name == spec.run_id
    assert spec.extra_vars_dir is not None and spec.extra_vars_dir.is_dir()
    recorder = RunRecorder()
    recorder.handle({"event": "runner_on_ok", "stdout": "changed: [pg1]",
                     "event_data": {"host": "pg1", "task": "Write secret", "role": "base",
                                    "res": {"censored": "hidden"}}})
    lifecycle.record(lifecycle.RunOutcome(0, recorder, spec))
    assert not spec.extra_vars_dir.exists()
    summary = json.loads((spec.run_dir / "summary.json").read_text())
    assert summary["changes"] == [{"host": "pg1", "role": "base", "task": "Write secret", "hidden": True}]
    assert "(no diff: the task has no_log" in (spec.run_dir / "plan.diff").read_text()
    for path in spec.run_dir.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) in (0o600, 0o700)


def test_the_progress_log_names_tasks_that_ran_not_those_skipped_everywhere():
    out = io.StringIO()
    recorder = RunRecorder()
    view = ProgressView(Console(file=out, force_terminal=False), recorder, "bizractl deploy site.yml", verbose=False)
    skipped_task = "Stop the rolling restart when the host did not come back"
    events = [
        {"event": "playbook_on_play_start", "event_data": {"play": "PostgreSQL"}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Check health", "role": "postgresql"}},
        {"event": "runner_on_ok", "event_data": {"host": "pg1", "task": "Check health", "role": "postgresql",
                                                 "task_uuid": "t1", "res": {}}},
        {"event": "playbook_on_task_start", "event_data": {"task": skipped_task, "role": "postgresql"}},
        {"event": "runner_on_skipped", "event_data": {"host": "pg1", "task_uuid": "t2", "task": skipped_task}},
    ]
    with view:
        for event in events:
            recorder.handle(event)
            view.on_event(event)
    text = out.getvalue()
    assert "PostgreSQL" in text and "postgresql : Check health" in text
    assert "Stop the rolling restart" not in text


def test_a_second_deploy_on_the_same_inventory_is_refused_naming_the_holder(project_root, tmp_path):
    settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs")}, project=str(project_root))
    first = lifecycle.prepare(settings, lifecycle.RunRequest("site", validate=False))
    try:
        with pytest.raises(LockedError, match=r"another deploy against .*inventories/lab is running \(.*pid "
                                              rf"{os.getpid()}, site\.yml, since "):
            lifecycle.prepare(settings, lifecycle.RunRequest("geth", extra_vars=("a=1",), validate=False))
        runs_before = {p.name for p in (tmp_path / "runs").iterdir()}
        # A plan changes nothing: it takes no lock and runs beside the deploy.
        plan = lifecycle.prepare(settings, lifecycle.RunRequest("site", check=True, validate=False))
        assert plan.lock is None
        lifecycle.cleanup(plan)
        assert {p.name for p in (tmp_path / "runs").iterdir()} == runs_before | {plan.run_dir.name}
    finally:
        lifecycle.cleanup(first)
    again = lifecycle.prepare(settings, lifecycle.RunRequest("site", validate=False))
    assert again.lock.took_over == ""
    lifecycle.cleanup(again)


def test_a_lock_left_by_a_process_that_is_gone_is_taken_over(project_root, tmp_path):
    lock_file = runlock.lock_path(tmp_path / "runs", project_root / "inventories" / "lab")
    lock_file.parent.mkdir(parents=True)
    lock_file.write_text(json.dumps({"user": "sre", "controller": "ops1", "pid": 999999, "playbook": "site.yml",
                                     "started": "2026-12-01T03:00:00Z"}))
    settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs")}, project=str(project_root))
    spec = lifecycle.prepare(settings, lifecycle.RunRequest("site", validate=False))
    assert spec.lock.took_over == ("took over the lock left by sre@ops1 pid 999999, site.yml, "
                                   "since 2026-12-01T03:00:00Z (that process is gone)")
    lifecycle.cleanup(spec)


def test_every_audit_record_also_reaches_the_syslog_collector(project_root, tmp_path):
    """BIZRA_AUDIT_SYSLOG=udp://...: the record, chained and hashed, arrives as one syslog line."""
    import socket as sockets

    with sockets.socket(sockets.AF_INET, sockets.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(5)
        target = f"udp://127.0.0.1:{collector.getsockname()[1]}"
        settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs"), "BIZRA_AUDIT_SYSLOG": target},
                                 project=str(project_root))
        spec = lifecycle.prepare(settings, lifecycle.RunRequest("site", check=True, validate=False))
        assert lifecycle.record(lifecycle.RunOutcome(0, RunRecorder(), spec)) == []
        message = collector.recv(65536).decode()
    assert message.startswith("<86>bizractl-audit: ")  # authpriv.info
    sent = json.loads(message.split(": ", 1)[1])
    kept = json.loads((tmp_path / "runs" / "audit.log").read_text().splitlines()[-1])
    assert sent == kept and sent["run_id"] == spec.run_id and len(sent["hash"]) == 64


def test_a_collector_that_does_not_answer_is_reported_and_the_run_still_recorded(project_root, tmp_path):
    import socket as sockets

    with sockets.socket() as probe:  # a TCP port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs"), "BIZRA_AUDIT_SYSLOG": f"tcp://127.0.0.1:{port}"},
                             project=str(project_root))
    spec = lifecycle.prepare(settings, lifecycle.RunRequest("site", check=True, validate=False))
    warnings = lifecycle.record(lifecycle.RunOutcome(0, RunRecorder(), spec))
    assert len(warnings) == 1 and "not sent to syslog (tcp://127.0.0.1:" in warnings[0]
    assert (tmp_path / "runs" / "audit.log").read_text().count("\n") == 1


@pytest.mark.parametrize("value", ["syslog", "udp://host", "tcp://:514", "udp://h:99999", "http://h:514"])
def test_a_bad_syslog_target_is_bad_input(value):
    with pytest.raises(BadInputError, match=f"BIZRA_AUDIT_SYSLOG={value!r}: expected local, udp://HOST:PORT"):
        Settings.load({"BIZRA_AUDIT_SYSLOG": value})


class _SlowChecks:
    """Offline checks that pass after a while unless stopped (validate.Pending's interface)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stopped = threading.Event()

    def result(self):
        from bizractl.validate import Result

        self.stopped.wait(self.seconds)
        return Result(findings=(), hosts=1, checks=1, host_side=0, seconds=self.seconds)

    def stop(self) -> None:
        self.stopped.set()


def _sleeping_play(tmp_path, seconds: str):
    """A localhost play whose first task sleeps `seconds` and whose second writes a marker file."""
    playbook, inventory, marker = tmp_path / "play.yml", tmp_path / "hosts.ini", tmp_path / "marker"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.command: sleep {seconds}\n      changed_when: false\n"
        f"    - ansible.builtin.copy:\n        content: ran\n        dest: {marker}\n        mode: '0600'\n",
        encoding="utf-8")
    inventory.write_text("localhost ansible_python_interpreter=" + sys.executable + "\n", encoding="utf-8")
    return playbook, inventory, marker


def _processes_running(needle: str) -> list[str]:
    """Command lines of this machine's processes that contain `needle` (a run's playbook path:
    ansible-playbook, its task workers and Mitogen's processes all keep its command line)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        if cmdline.parent.name == str(os.getpid()):
            continue
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in text:
            found.append(text)
    return found


def _assert_nothing_of_the_run_is_left(playbook) -> None:
    deadline = time.monotonic() + 5
    while _processes_running(str(playbook)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_running(str(playbook)), "a process of the stopped run was left behind"


def test_a_run_whose_start_gate_does_not_hold_is_stopped_at_its_first_play(project_root, tmp_path, monkeypatch):
    """Ansible only warns about a callback it cannot load: bizractl itself stops a run that
    starts a play before the offline checks passed (under ansible.cfg's Mitogen strategy)."""
    from bizractl import runspec

    playbook, inventory, marker = _sleeping_play(tmp_path, "15")
    monkeypatch.setattr(runspec, "START_GATE_CALLBACK", "bizra.infra.no_such_gate")
    monkeypatch.setattr(lifecycle, "start_offline_checks", lambda *args: _SlowChecks(30))
    settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs")}, project=str(project_root))
    out = io.StringIO()
    started = time.monotonic()
    code = lifecycle.run(settings, lifecycle.RunRequest(str(playbook), inventory=str(inventory)),
                         Console(file=out, width=200))
    assert time.monotonic() - started < 15, "the run was not stopped at its first play"
    assert code == EXIT_INTERRUPTED, out.getvalue()
    assert "started its first play before the offline checks passed" in out.getvalue()
    assert not marker.exists()
    _assert_nothing_of_the_run_is_left(playbook)


@pytest.mark.parametrize(("strategy", "seconds"), [("bizra.infra.mitogen_linear", "41.7"), ("linear", "41.8")])
def test_ctrl_c_stops_the_run_and_leaves_no_process_of_it(project_root, tmp_path, monkeypatch, strategy, seconds):
    """Ctrl-C mid-task: ansible-playbook is interrupted (SIGINT, exit 99), not killed, so its task
    workers and Mitogen's processes (sessions of their own) end with it; the run is recorded."""
    playbook, inventory, marker = _sleeping_play(tmp_path, seconds)
    monkeypatch.setenv("ANSIBLE_STRATEGY", strategy)
    settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs")}, project=str(project_root))

    def press_ctrl_c_once_the_task_runs():
        deadline = time.monotonic() + 60
        while not _processes_running(f"sleep {seconds}"):
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c_once_the_task_runs, daemon=True)
    presser.start()
    out = io.StringIO()
    started = time.monotonic()
    code = lifecycle.run(settings, lifecycle.RunRequest(str(playbook), inventory=str(inventory)),
                         Console(file=out, width=200))
    presser.join(1)
    assert code == EXIT_INTERRUPTED, out.getvalue()
    assert time.monotonic() - started < 40, "the run was not interrupted (it waited for its task)"
    assert "interrupted: stopping Ansible" in out.getvalue()
    assert not marker.exists()
    assert len(list((tmp_path / "runs").glob("*/summary.json"))) == 1, "the interrupted run was not recorded"
    _assert_nothing_of_the_run_is_left(playbook)
    # Under Mitogen the interrupted command itself runs to its end, as a command on a remote host
    # does once its connection is gone: not a process of the run, but not left to this machine.
    subprocess.run(["pkill", "-f", f"sleep {seconds}"], check=False)


def test_events_of_a_real_run_through_the_lighter_callback(project_root, tmp_path):
    """bizractl's awx_display (bizractl/runner_callback): no per-host start events, no module
    arguments or facts in results that did not fail, everything the recorder reads still there,
    and a no_log result censored as ansible-runner's own callback does."""
    files = tmp_path / "files"
    files.mkdir()
    playbook, inventory = tmp_path / "play.yml", tmp_path / "hosts.ini"
    playbook.write_text(f"""\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Read facts
      ansible.builtin.setup: {{gather_subset: [min]}}
    - name: Write a file
      ansible.builtin.copy: {{content: "one\\n", dest: "{files}/plain", mode: "0600"}}
    - name: Say hello
      ansible.builtin.debug: {{msg: hello}}
    - name: Fail and go on
      ansible.builtin.command: "false"
      ignore_errors: true
    - name: Write a secret
      ansible.builtin.copy: {{content: "hush-4711\\n", dest: "{files}/secret", mode: "0600"}}
      no_log: true
    - name: Touch two files
      ansible.builtin.file: {{path: "{files}/{{{{ item }}}}", state: touch, mode: "0600"}}
      loop: [a, b]
""", encoding="utf-8")
    inventory.write_text("localhost ansible_python_interpreter=" + sys.executable + "\n", encoding="utf-8")
    settings = Settings.load({"BIZRA_RUNS_DIR": str(tmp_path / "runs")}, project=str(project_root))
    out = io.StringIO()
    code = lifecycle.run(settings, lifecycle.RunRequest(str(playbook), inventory=str(inventory), validate=False),
                         Console(file=out, width=200))
    assert code == 0, out.getvalue()
    run_dir = next((tmp_path / "runs").glob("*/summary.json")).parent
    summary = json.loads((run_dir / "summary.json").read_text())
    # Ansible's recap: the ignored failure counts as changed (a command reports so) and ignored.
    assert summary["hosts"]["localhost"] == {**summary["hosts"]["localhost"], "ok": 6, "changed": 4,
                                             "failed": 0, "ignored": 1}
    assert [(c["task"], c["hidden"]) for c in summary["changes"]] == [
        ("Write a file", False), ("Write a secret", True), ("Touch two files", False)]
    assert "hello" in out.getvalue()  # the debug task's report

    events = [json.loads(path.read_text()) for path in (run_dir / "artifacts/ansible/job_events").glob("*.json")]
    kinds = [event["event"] for event in events]
    assert "runner_on_start" not in kinds
    results = {(e["event"], e["event_data"].get("task")): e["event_data"] for e in events
               if e["event"].startswith("runner_")}
    assert set(results) >= {("runner_on_ok", "Read facts"), ("runner_on_ok", "Write a file"),
                            ("runner_on_failed", "Fail and go on"), ("runner_item_on_ok", "Touch two files")}
    for (kind, task), data in results.items():
        if kind == "runner_on_failed":
            assert "invocation" in data["res"], "a failed result is kept whole"
        else:
            assert "invocation" not in data["res"] and "ansible_facts" not in data["res"], (kind, task)
        if kind.startswith("runner_on_"):
            assert data["start"] and data["end"], f"{task}: the host's start time was not kept"
    assert results[("runner_on_ok", "Write a file")]["res"]["changed"] is True
    assert list(results[("runner_on_ok", "Write a secret")]["res"]) == ["censored"]
    assert not any("hush-4711" in path.read_text() for path in run_dir.rglob("*") if path.is_file())
