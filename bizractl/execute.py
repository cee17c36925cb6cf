"""Run a playbook: the one place that touches ansible-runner (imported lazily)."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bizractl import runs
from bizractl.exitcodes import EXIT_INTERRUPTED, map_exit_code
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
    return RunOutcome(code, recorder, run_id, spec.run_dir)


def write_plan_diff(path: Path, recorder: RunRecorder) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for change in recorder.changes:
            handle.write(f"### {change.host}: {change.role} : {change.task}\n")
            handle.write(change.diff or "(no diff reported by the module)\n")
    path.chmod(0o600)


def prune(runs_dir: Path, keep: int) -> None:
    runs.prune_runs(runs_dir, keep)
