"""One owner for a run's life: prepare -> execute -> record -> report.

- prepare: resolve what the user named, make the run directory, write the -e values to private
  files; everything is in the returned RunSpec (run id, title, temporary directory).
- execute: the one place that touches ansible-runner (imported lazily); returns the recorder.
- record: summary.json, plan.diff, owner-only modes, the temporary files removed, old runs pruned,
  and one record appended to the hash-chained audit trail (audit.py).
- report: the tables the user reads.
``run`` strings them together and always records, also after Ctrl-C or an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bizractl import __version__, audit, resolve, runlock, runs
from bizractl import report as reports
from bizractl.errors import BadInputError
from bizractl.exitcodes import MEANING, map_exit_code
from bizractl.paths import ensure_collection_link, find_project_root
from bizractl.recorder import RunRecorder
from bizractl.report import ProgressView
from bizractl.runspec import RunSpec, build_runner_kwargs, fact_cache_dir
from bizractl.settings import Settings


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for, as typed (the CLI's options)."""

    playbook: str
    check: bool = False
    diff: bool = False
    inventory: str | None = None
    limit: str | None = None
    tags: str | None = None
    skip_tags: str | None = None
    extra_vars: tuple[str, ...] = ()
    forks: int | None = None
    vault_password_file: str | None = None
    verbosity: int = 0
    # The offline checks of the inventory (bizractl validate) before anything runs.
    validate: bool = True
    # Run inside the execution environment: this checkout's image (built when missing), or a named one.
    ee: bool = False
    ee_image: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    code: int
    recorder: RunRecorder
    spec: RunSpec


def prepare(settings: Settings, request: RunRequest, named_by: str = "--project",
            log: Callable[[str], None] = lambda _message: None) -> RunSpec:
    """Check the request and set the run up. Bad input raises before anything is created."""
    root = find_project_root(settings.project, named_by=named_by)
    playbook = resolve.resolve_playbook(root, request.playbook)
    inventory = resolve.resolve_inventory(root, request.inventory)
    resolve.check_inventory_syntax(inventory)
    resolve.check_extra_vars(request.extra_vars)
    vault_file = resolve.vault_password_file(request.vault_password_file)
    # The -e values first: a bad one is bad input, and nothing exists yet.
    extra_dir, extra_files = runs.write_extra_vars(request.extra_vars)
    checks = None
    try:
        if request.validate and (request.ee or request.ee_image):
            # Before an image is built or started; the start gate is for direct runs.
            check_offline(root, inventory, playbook, vault_file, extra_files, request.limit)
        elif request.validate:
            # They run while Ansible starts; the run waits at its start gate until they pass.
            checks = start_offline_checks(root, inventory, playbook, vault_file, extra_files, request.limit)
        ee_run = _ee_run(settings, root, request, playbook, inventory, vault_file, extra_dir, log)
    except BaseException:
        if checks is not None:
            checks.stop()
        if extra_dir is not None:
            shutil.rmtree(extra_dir, ignore_errors=True)
        raise
    runs_dir = settings.runs_dir_for(root)
    lock = None
    try:
        # One deploy per inventory at a time (plans change nothing and take no lock); a refused
        # deploy leaves no run directory behind.
        lock = None if request.check else runlock.acquire(runs_dir, inventory, playbook)
        run_id = runs.new_run_id(playbook)
        run_dir = runs.create_run_dir(runs_dir, run_id)
    except BaseException:
        if checks is not None:
            checks.stop()
        if lock is not None:
            lock.release()
        if extra_dir is not None:
            shutil.rmtree(extra_dir, ignore_errors=True)
        raise
    verb = "plan" if request.check else "deploy"
    return RunSpec(
        project_root=root, playbook=playbook, inventory=inventory, run_dir=run_dir, run_id=run_id,
        title=f"bizractl {verb} {playbook.name}", runs_dir=runs_dir, keep_runs=settings.runs_keep,
        limit=request.limit, tags=request.tags, skip_tags=request.skip_tags, check=request.check,
        diff=request.diff, forks=request.forks, vault_password_file=vault_file, verbosity=request.verbosity,
        extra_vars_files=extra_files, extra_vars_dir=extra_dir,
        extra_vars_names=runs.extra_var_names(extra_dir, extra_files), lock=lock, ee=ee_run,
        audit_syslog=settings.audit_syslog, checks=checks,
    )


def _ee_run(settings: Settings, root: Path, request: RunRequest, playbook: Path, inventory: Path,
            vault_file: Path | None, extra_dir: Path | None, log: Callable[[str], None]):
    """How the run goes through the execution environment, or None for a direct run."""
    if not (request.ee or request.ee_image):
        return None
    from bizractl import ee
    from bizractl.lab.podman import Podman

    ee.collection_playbook(root, playbook)  # bad input before any image is built
    podman = Podman()
    if request.ee_image:
        if not podman.image_exists(request.ee_image):
            raise BadInputError(f"--ee-image {request.ee_image}: podman has no such image "
                                "(build one with `bizractl ee build`, or pull it from your registry)")
        image = request.ee_image
    else:
        image = ee.ensure_image(root, log, podman)
    read_only = tuple(p for p in (vault_file, extra_dir) if p is not None)
    return ee.plan_run(root, image, playbook, inventory, fact_cache_dir(root, inventory), settings.lab_home,
                       read_only)


def start_offline_checks(root: Path, inventory: Path, playbook: Path, vault_file: Path | None,
                         extra_files: tuple[Path, ...], limit: str | None):
    """bizractl validate's checks (the command and every deploy and plan), started in their child
    process: a validate.Pending, whose result() has every problem at once."""
    from bizractl import validate

    ensure_collection_link(root)
    return validate.start(root, inventory, playbook, vault_password_file=vault_file,
                          extra_vars_files=tuple(extra_files), limit=limit,
                          fact_cache=fact_cache_dir(root, inventory))


def offline_checks(root: Path, inventory: Path, playbook: Path, vault_file: Path | None,
                   extra_files: tuple[Path, ...], limit: str | None):
    """The same checks, waited for."""
    return start_offline_checks(root, inventory, playbook, vault_file, extra_files, limit).result()


def check_offline(root: Path, inventory: Path, playbook: Path, vault_file: Path | None,
                  extra_files: tuple[Path, ...], limit: str | None):
    """The offline checks before a run: their problems are bad input, before any host."""
    from bizractl import validate

    result = offline_checks(root, inventory, playbook, vault_file, extra_files, limit)
    if not result.ok:
        raise BadInputError(validate.format_findings(result, inventory))
    return result


class StartGate:
    """The offline checks' verdict for a run waiting at its start (plugins/callback/start_gate.py).

    The run's ansible-playbook waits, before its first play, until the gate file says "go"; "stop"
    ends it there. A play event before the gate opened means the gate did not hold (the callback
    was not loaded): the run is stopped at once and reported, never left to go on unchecked.
    """

    # Events a run sends before its first play (the gate waits after playbook_on_start).
    BEFORE_THE_FIRST_PLAY = frozenset({"playbook_on_start", "verbose", "warning", "deprecated", "debug", "error"})

    def __init__(self, spec: RunSpec) -> None:
        self.checks = spec.checks
        self.inventory = spec.inventory
        self.path = spec.start_gate
        self.open = self.checks is None
        self.refused: BadInputError | None = None
        self.breached = False

    def decide(self) -> None:
        """Wait for the checks, then open the gate or close it with their findings."""
        if self.open:
            return
        from bizractl import validate

        try:
            result = self.checks.result()
        except BadInputError as error:
            if self.breached:  # stopped by watch(): the run is being stopped anyway
                return
            self.refused = error
        except BaseException:
            self._say("stop")
            raise
        else:
            if not result.ok:
                self.refused = BadInputError(validate.format_findings(result, self.inventory))
        if self.refused is not None:
            self._say("stop")
            return
        self.open = True
        self._say("go")

    def stop(self) -> None:
        """Ctrl-C or an error before the verdict: the run ends at the gate."""
        if not self.open:
            self.checks.stop()
            self._say("stop")

    def watch(self, event: dict) -> bool:
        """False when a play started before the gate opened."""
        if self.open or event.get("event") in self.BEFORE_THE_FIRST_PLAY:
            return True
        self.breached = True
        self.checks.stop()  # no verdict to wait for
        return False

    def _say(self, word: str) -> None:
        partial = self.path.with_suffix(".partial")
        partial.write_text(word + "\n", encoding="utf-8")
        partial.replace(self.path)


class Stopper:
    """Stops a run the way Ctrl-C in a terminal stops ansible-playbook: SIGINT to its process group.

    ansible-playbook then ends its task workers and Mitogen's processes itself and exits 99. Those
    processes run in sessions of their own: ansible-runner's cancel (SIGKILL to the process group)
    does not reach them, and a Mitogen worker of a run killed that way was seen waiting for ever.
    That kill stays the fallback when the run has not ended GRACE_SECONDS after the SIGINT, or
    when there is no process here to signal (before the first event; a run in an execution
    environment, which ansible-runner stops with `podman kill`).
    """

    GRACE_SECONDS = 15.0

    def __init__(self, spec: RunSpec) -> None:
        self.local = spec.ee is None
        self.pid: int | None = None
        self.requested_at: float | None = None

    def see(self, event: dict) -> None:
        """Events carry the pid of the ansible-playbook that sent them (a session leader here)."""
        if self.pid is None and self.local and isinstance(event.get("pid"), int):
            self.pid = event["pid"]

    def request(self) -> None:
        if self.requested_at is not None:
            return
        self.requested_at = time.monotonic()
        if self.pid is not None:
            with contextlib.suppress(OSError):  # already gone
                os.killpg(self.pid, signal.SIGINT)

    def kill_now(self) -> bool:
        """ansible-runner's cancel_callback: True makes it SIGKILL the process group."""
        if self.requested_at is None:
            return False
        return self.pid is None or time.monotonic() - self.requested_at > self.GRACE_SECONDS


def execute(spec: RunSpec, console: Console) -> RunOutcome:
    """Run the playbook; Ctrl-C stops Ansible cleanly and still returns what was recorded.

    The offline checks, when still running, decide at the run's start gate: on a finding the run
    ends before its first play, its run directory is removed and the findings are raised as bad
    input (BadInputError), as when the checks ran before.
    """
    import ansible_runner  # slow import: only when a run really starts

    ensure_collection_link(spec.project_root)
    recorder = RunRecorder()
    stopper = Stopper(spec)
    gate = StartGate(spec)
    view = ProgressView(console, recorder, spec.title, verbose=spec.verbosity > 0)

    def on_event(event: dict) -> bool:
        stopper.see(event)
        if not gate.watch(event):
            stopper.request()
        recorder.handle(event)
        view.on_event(event)
        keep_event(spec.events_dir, event)
        return False  # kept above, where ansible-runner would have kept it

    finished = threading.Event()
    kwargs = build_runner_kwargs(spec)
    kwargs.update(event_handler=on_event, cancel_callback=stopper.kill_now,
                  finished_callback=lambda _runner: finished.set())
    status, rc = "failed", None
    with view:
        # The run goes in a worker thread so Ctrl-C lands here: the stopper interrupts
        # ansible-playbook, and the summary still gets written.
        # (Waiting on an Event, not Thread.join: an interrupted join can leave the
        # thread looking finished while it still runs.)
        thread, runner = ansible_runner.run_async(**kwargs)
        try:
            gate.decide()
            _wait(finished, thread)
        except KeyboardInterrupt:
            gate.stop()
            stopper.request()
            console.print("interrupted: stopping Ansible (hosts may be mid-change; re-run to converge)")
            _wait(finished, thread)
        status, rc = runner.status, runner.rc
    if stopper.requested_at is not None:
        status = "canceled"  # stopped by bizractl, whatever ansible-playbook's exit said (99, 250, -9)
    spec.start_gate.unlink(missing_ok=True)  # only the waiting run read it
    if gate.refused is not None:
        # Stopped before its first play: nothing ran on a host, no run to record (the lock and
        # the -e files go in cleanup).
        shutil.rmtree(spec.run_dir, ignore_errors=True)
        raise gate.refused
    if gate.breached:
        console.print("bizractl: the run started its first play before the offline checks passed (the "
                      "callback bizra.infra.start_gate was not loaded) and was stopped there: run "
                      "`bizractl validate`, and report this")
    code = map_exit_code(status, rc, len(recorder.failed_hosts), len(recorder.unreachable_hosts))
    return RunOutcome(code, recorder, spec)


def keep_event(events_dir: Path, event: dict) -> None:
    """An event into the run's artifacts as ansible-runner keeps it (job_events/<counter>-<uuid>.json),
    written at once: ansible-runner's own writer streams it through a codec, about 1 ms an event."""
    path = events_dir / f"{event['counter']}-{event['uuid']}.json"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(json.dumps(event))


def record(outcome: RunOutcome) -> list[str]:
    """What stays after the run: the summary (and plan), owner-only; the -e files gone; old runs pruned.
    Returns problems to show that did not fail the run (a syslog collector that did not answer)."""
    spec = outcome.spec
    warnings: list[str] = []
    cleanup(spec)
    if spec.check and outcome.recorder.changes:
        write_plan_diff(spec.run_dir / "plan.diff", outcome.recorder)
    summary = write_summary(spec.run_dir / "summary.json", outcome)
    runs.make_private(spec.run_dir)
    if spec.runs_dir is not None:
        entry = audit.append(audit.log_path(spec.runs_dir), audit.entry_for(
            run_id=spec.run_id, verb="plan" if spec.check else "deploy", playbook=spec.playbook,
            inventory=spec.inventory, project_root=spec.project_root, version=__version__, limit=spec.limit,
            tags=spec.tags, skip_tags=spec.skip_tags, extra_var_names=spec.extra_vars_names,
            exit_code=outcome.code, result=summary["result"],
            hosts={name: {k: counts[k] for k in ("ok", "changed", "failed", "unreachable")}
                   for name, counts in summary["hosts"].items()},
            changes=[{k: c[k] for k in ("host", "role", "task")} for c in summary["changes"]],
            execution_environment=summary["execution_environment"]))
        if spec.audit_syslog:
            problem = audit.forward(entry, spec.audit_syslog)
            if problem:
                warnings.append(problem)
        runs.prune_runs(spec.runs_dir, spec.keep_runs)
    return warnings


def cleanup(spec: RunSpec) -> None:
    """Remove the private -e files, scrub the environment copy ansible-runner wrote, free the lock."""
    if spec.lock is not None:
        spec.lock.release()
    if spec.extra_vars_dir is not None:
        shutil.rmtree(spec.extra_vars_dir, ignore_errors=True)
    for artifact in spec.artifact_dir.glob("*"):
        runs.scrub_command_artifact(artifact)


def report(console: Console, outcome: RunOutcome, show_diff: bool = False) -> None:
    spec = outcome.spec
    if spec.check:
        reports.print_plan_report(console, outcome.recorder, spec.run_id, spec.run_dir, outcome.code, show_diff)
    else:
        reports.print_deploy_report(console, outcome.recorder, spec.run_id, spec.run_dir, outcome.code)


def run(settings: Settings, request: RunRequest, console: Console, show_diff: bool = False,
        named_by: str = "--project") -> int:
    spec = prepare(settings, request, named_by, log=lambda message: console.print(f"bizractl: {message}"))
    if spec.lock is not None and spec.lock.took_over:
        console.print(f"bizractl: {spec.lock.took_over}")
    try:
        outcome = execute(spec, console)
    except BaseException:
        cleanup(spec)  # an unexpected error: no -e file is left behind
        raise
    for warning in record(outcome):
        console.print(f"bizractl: {warning}")
    report(console, outcome, show_diff)
    return outcome.code


def _wait(finished: threading.Event, thread: threading.Thread) -> None:
    while not finished.wait(0.2):
        if not thread.is_alive():
            return


def write_summary(path: Path, outcome: RunOutcome) -> dict:
    """The run's result for tools and people: hosts, failures, changes (no diffs, no values)."""
    spec, recorder = outcome.spec, outcome.recorder
    summary = {
        "run_id": spec.run_id,
        "playbook": str(spec.playbook),
        "inventory": str(spec.inventory),
        "limit": spec.limit,
        "check": spec.check,
        "execution_environment": spec.ee.image if spec.ee is not None else None,
        "exit_code": outcome.code,
        "result": MEANING.get(outcome.code, "error"),
        "hosts": {
            h.name: {
                "ok": h.ok, "changed": h.changed, "failed": h.failed, "unreachable": h.unreachable,
                "skipped": h.skipped, "rescued": h.rescued, "ignored": h.ignored,
                "duration": round(h.duration, 2),
            }
            for h in recorder.hosts.values()
        },
        "failures": [vars(f) for f in recorder.failures],
        "changes": [{"host": c.host, "role": c.role, "task": c.task, "hidden": c.hidden} for c in recorder.changes],
    }
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return summary


def write_plan_diff(path: Path, recorder: RunRecorder) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for change in recorder.changes:
            handle.write(f"### {change.host}: {change.role} : {change.task}\n")
            if change.hidden:
                handle.write("(no diff: the task has no_log, its change is not shown)\n")
            else:
                handle.write(change.diff or "(no diff reported by the module)\n")
    path.chmod(0o600)

