"""Run a playbook: the one place that touches ansible-runner (imported lazily)."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bizractl import runs
from bizractl.exitcodes import MEANING, map_exit_code
from bizractl.paths import ensure_collection_link
from bizractl.recorder import RunRecorder
from bizractl.report import ProgressView
from bizractl.runspec import RunSpec, build_runner_kwargs


@dataclass(frozen=True)
class RunOutcome:
    code: int
    recorder: RunRecorder
    run_id: str
    run_dir: Path


def execute(spec: RunSpec, run_id: str, console: Console, title: str, extra_vars_dir: Path | None) -> RunOutcome:
    import ansible_runner  # slow import: only when a run really starts

    ensure_collection_link(spec.project_root)
    recorder = RunRecorder()
    cancel = threading.Event()
    view = ProgressView(console, recorder, title, verbose=spec.verbosity > 0)

    def on_event(event: dict) -> bool:
        recorder.handle(event)
        view.on_event(event)
        return True  # keep the event in the artifacts

    finished = threading.Event()
    kwargs = build_runner_kwargs(spec)
    kwargs.update(event_handler=on_event, cancel_callback=cancel.is_set,
                  finished_callback=lambda _runner: finished.set())
    status, rc = "failed", None
    try:
        with view:
            # The run goes in a worker thread so Ctrl-C lands here: it sets the cancel flag,
            # ansible-runner stops ansible-playbook, and the summary still gets written.
            # (Waiting on an Event, not Thread.join: an interrupted join can leave the
            # thread looking finished while it still runs.)
            thread, runner = ansible_runner.run_async(**kwargs)
            try:
                _wait(finished, thread)
            except KeyboardInterrupt:
                cancel.set()
                console.print("interrupted: stopping Ansible (hosts may be mid-change; re-run to converge)")
                _wait(finished, thread)
            status, rc = runner.status, runner.rc
    finally:
        if extra_vars_dir is not None:
            shutil.rmtree(extra_vars_dir, ignore_errors=True)
        for artifact in spec.artifact_dir.glob("*"):
            runs.scrub_command_artifact(artifact)
    code = map_exit_code(status, rc, len(recorder.failed_hosts), len(recorder.unreachable_hosts))
    if spec.check and recorder.changes:
        write_plan_diff(spec.run_dir / "plan.diff", recorder)
    write_summary(spec.run_dir / "summary.json", spec, recorder, run_id, code)
    runs.make_private(spec.run_dir)
    return RunOutcome(code, recorder, run_id, spec.run_dir)


def _wait(finished: threading.Event, thread: threading.Thread) -> None:
    while not finished.wait(0.2):
        if not thread.is_alive():
            return


def write_summary(path: Path, spec: RunSpec, recorder: RunRecorder, run_id: str, code: int) -> None:
    """The run's result for tools and people: hosts, failures, changes (no diffs, no values)."""
    summary = {
        "run_id": run_id,
        "playbook": str(spec.playbook),
        "inventory": str(spec.inventory),
        "limit": spec.limit,
        "check": spec.check,
        "exit_code": code,
        "result": MEANING.get(code, "error"),
        "hosts": {
            h.name: {
                "ok": h.ok, "changed": h.changed, "failed": h.failed, "unreachable": h.unreachable,
                "skipped": h.skipped, "rescued": h.rescued, "ignored": h.ignored,
                "duration": round(h.duration, 2),
            }
            for h in recorder.hosts.values()
        },
        "failures": [vars(f) for f in recorder.failures],
        "changes": [{"host": c.host, "role": c.role, "task": c.task} for c in recorder.changes],
    }
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)


def write_plan_diff(path: Path, recorder: RunRecorder) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for change in recorder.changes:
            handle.write(f"### {change.host}: {change.role} : {change.task}\n")
            handle.write(change.diff or "(no diff reported by the module)\n")
    path.chmod(0o600)
