"""Run a playbook: the one place that touches ansible-runner (imported lazily)."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bizractl import runs
from bizractl.exitcodes import EXIT_INTERRUPTED, MEANING, map_exit_code
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

    kwargs = build_runner_kwargs(spec)
    kwargs.update(event_handler=on_event, cancel_callback=cancel.is_set)
    status, rc = "failed", None
    try:
        with view:
            runner = ansible_runner.run(**kwargs)
            status, rc = runner.status, runner.rc
    except KeyboardInterrupt:
        # ansible-runner stops ansible-playbook on cancel; a second Ctrl-C is Python's default.
        cancel.set()
        status = "canceled"
    finally:
        if extra_vars_dir is not None:
            shutil.rmtree(extra_vars_dir, ignore_errors=True)
        for artifact in spec.artifact_dir.glob("*"):
            runs.scrub_command_artifact(artifact)
    code = map_exit_code(status, rc, len(recorder.failed_hosts), len(recorder.unreachable_hosts))
    if status == "canceled":
        code = EXIT_INTERRUPTED
    if spec.check and recorder.changes:
        write_plan_diff(spec.run_dir / "plan.diff", recorder)
    write_summary(spec.run_dir / "summary.json", spec, recorder, run_id, code)
    return RunOutcome(code, recorder, run_id, spec.run_dir)


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


def prune(runs_dir: Path, keep: int) -> None:
    runs.prune_runs(runs_dir, keep)
