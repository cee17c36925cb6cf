"""What the user sees: a live progress view while a run goes, tables when it ends."""

from __future__ import annotations

import re
import time
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bizractl.exitcodes import MEANING
from bizractl.recorder import RunRecorder

# Above this many hosts the live view shows totals and only the hosts in trouble.
LIVE_HOST_ROWS = 16
# Results that mean a task did something on a host (a skip does not).
ACTED_EVENTS = ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_item_on_ok",
                "runner_item_on_failed")
STATE_STYLE = {"ok": "green", "changed": "yellow", "failed": "bold red", "unreachable": "bold magenta"}


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _task_label(recorder: RunRecorder) -> str:
    if not recorder.task:
        return recorder.play or "starting"
    return f"{recorder.role} : {recorder.task}" if recorder.role else recorder.task


class ProgressView:
    """A compact live view on a terminal; one line per task in a log (CI, pipes)."""

    def __init__(self, console: Console, recorder: RunRecorder, title: str, verbose: bool) -> None:
        self.console = console
        self.recorder = recorder
        self.title = title
        self.verbose = verbose
        self.started = time.monotonic()
        self._live: Live | None = None
        self._last_line = ""
        self._shown_tasks: set[str | None] = set()

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal and not self.verbose:
            self._live = Live(get_renderable=self._render, console=self.console,
                              refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def on_event(self, event: dict) -> None:
        if self.verbose:
            stdout = event.get("stdout")
            if stdout:
                self.console.out(stdout, highlight=False)
            return
        kind = event.get("event")
        data = event.get("event_data") or {}
        # One line per play, and per task once it did something on a host: a task skipped
        # everywhere is not shown ("Stop the rolling restart when ... not healthy" never ran).
        if self._live is None and (kind == "playbook_on_play_start" or (
                kind in ACTED_EVENTS and data.get("task_uuid") not in self._shown_tasks)):
            self._shown_tasks.add(data.get("task_uuid"))
            role, task = data.get("role") or "", data.get("task") or ""
            label = (f"{role} : {task}" if role else task) if kind in ACTED_EVENTS else _task_label(self.recorder)
            line = f"[{_elapsed(time.monotonic() - self.started)}] {label}"
            if line != self._last_line:
                self.console.out(line, highlight=False)
                self._last_line = line
        if self._live is None and event.get("event") in ("runner_on_failed", "runner_on_unreachable"):
            data = event.get("event_data") or {}
            if not data.get("ignore_errors"):
                failure = self.recorder.failures[-1] if self.recorder.failures else None
                if failure is not None:
                    self.console.out(f"    {failure.host}: FAILED {failure.message.splitlines()[0][:200]}",
                                     highlight=False)

    def _render(self) -> Group:
        rec = self.recorder
        header = Text.assemble(
            (f"{self.title}  ", "bold"), (_elapsed(time.monotonic() - self.started), "cyan"),
            "  ", (rec.play, "dim"),
        )
        task = Text.assemble(("task: ", "dim"), _task_label(rec))
        table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
        for column in ("host", "ok", "changed", "failed", "unreachable"):
            table.add_column(column, justify="left" if column == "host" else "right")
        hosts = sorted(rec.hosts.values(), key=lambda h: h.name)
        if len(hosts) > LIVE_HOST_ROWS:
            troubled = [h for h in hosts if h.failed or h.unreachable]
            table.add_row(f"{len(hosts)} hosts", str(sum(h.ok for h in hosts)),
                          str(sum(h.changed for h in hosts)), str(sum(h.failed for h in hosts)),
                          str(sum(h.unreachable for h in hosts)))
            hosts = troubled[:LIVE_HOST_ROWS]
        for h in hosts:
            table.add_row(Text(h.name, style=STATE_STYLE[h.state]), str(h.ok), str(h.changed),
                          str(h.failed), str(h.unreachable))
        return Group(header, task, table)


def host_table(recorder: RunRecorder, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("host")
    for column in ("ok", "changed", "failed", "unreachable", "skipped"):
        table.add_column(column, justify="right")
    table.add_column("duration", justify="right")
    for h in sorted(recorder.hosts.values(), key=lambda h: h.name):
        table.add_row(Text(h.name, style=STATE_STYLE[h.state]), str(h.ok), str(h.changed), str(h.failed),
                      str(h.unreachable), str(h.skipped), f"{h.duration:.1f}s")
    return table


def same_but_for_the_host(items, host_of, key_of) -> list[tuple[list[str], object]]:
    """Items that say the same thing on many hosts (the host's own name aside), once each with
    their hosts, in first-seen order: a 7-host run printed one container notice 14 times."""
    groups: dict[object, tuple[list[str], object]] = {}
    for item in items:
        host = host_of(item)
        key = key_of(item, host)
        if key not in groups:
            groups[key] = ([], item)
        if host not in groups[key][0]:
            groups[key][0].append(host)
    return list(groups.values())


def without_host(text: str, host: str) -> str:
    return re.sub(rf"\b{re.escape(host)}\b", "\0", text) if host else text


def _hosts_label(hosts: list[str]) -> str:
    return hosts[0] if len(hosts) == 1 else f"{', '.join(hosts)} ({len(hosts)} hosts)"


def shared_text(hosts: list[str], text: str, host: str) -> str:
    """One host: its own words. Several: the shared words, its name as 'each host'."""
    return text if len(hosts) == 1 else without_host(text, host).replace("\0", "each host")


def print_reports(console: Console, recorder: RunRecorder) -> None:
    """Messages the playbook reported (debug tasks), after the table; the same message on many
    hosts is shown once with their names."""
    if not recorder.reports:
        return
    console.print(Text("Reports", style="bold"))
    for hosts, report in same_but_for_the_host(
            recorder.reports, lambda r: r.host,
            lambda r, h: (r.task, tuple(without_host(line, h) for line in r.lines))):
        console.print(Text.assemble((f"  {_hosts_label(hosts)}", "bold"), f"  {report.task}"))
        for line in report.lines:
            console.print(Text(f"      {shared_text(hosts, line, report.host)}"), highlight=False)


def print_failures(console: Console, recorder: RunRecorder) -> None:
    if not recorder.failures:
        return
    console.print(Text("Failed tasks", style="bold red"))
    for hosts, failure in same_but_for_the_host(
            recorder.failures, lambda f: f.host,
            lambda f, h: (f.role, f.task, f.unreachable, without_host(f.message, h))):
        where = f"{failure.role} : {failure.task}" if failure.role else failure.task
        kind = "UNREACHABLE" if failure.unreachable else "FAILED"
        console.print(Text.assemble((f"  {_hosts_label(hosts)}", "bold"), f"  {kind}  {where}"))
        for line in failure.message.splitlines()[:12]:
            console.print(Text(f"      {shared_text(hosts, line, failure.host)}"), highlight=False)


def print_ansible_output_tail(console: Console, run_dir: Path, lines: int = 25) -> None:
    """When Ansible stopped before any host result (syntax error, bad option), show why."""
    for stdout in sorted(run_dir.glob("artifacts/*/stdout")):
        tail = stdout.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
        if tail:
            console.print(Text("Ansible said:", style="bold red"))
            for line in tail:
                console.print(Text(f"  {line}"), highlight=False)


def print_deploy_report(console: Console, recorder: RunRecorder, run_id: str, run_dir: Path, code: int) -> None:
    if recorder.hosts:
        console.print(host_table(recorder, f"Run {run_id}"))
    elif code != 0:
        print_ansible_output_tail(console, run_dir)
    print_reports(console, recorder)
    print_failures(console, recorder)
    _footer(console, run_dir, code)


def print_plan_report(console: Console, recorder: RunRecorder, run_id: str, run_dir: Path,
                      code: int, show_diff: bool) -> None:
    """Per host: how many changes; per role: which hosts would change; diffs on demand."""
    if not recorder.hosts and code != 0:
        print_ansible_output_tail(console, run_dir)
        _footer(console, run_dir, code)
        return
    hosts = sorted(recorder.hosts)
    summary = Table(title=f"Plan {run_id}: changes per host", title_justify="left")
    summary.add_column("host")
    summary.add_column("would change", justify="right")
    summary.add_column("failed", justify="right")
    summary.add_column("unreachable", justify="right")
    for name in hosts:
        h = recorder.hosts[name]
        summary.add_row(Text(name, style=STATE_STYLE[h.state]), str(h.changed), str(h.failed), str(h.unreachable))
    console.print(summary)
    by_role = recorder.changes_by_role()
    if by_role:
        roles = Table(title="Changes per role", title_justify="left")
        roles.add_column("role")
        roles.add_column("hosts (changed tasks)")
        for role in sorted(by_role):
            roles.add_row(role, ", ".join(f"{host} ({n})" for host, n in sorted(by_role[role].items())))
        console.print(roles)
        tasks = Table(title="What would change", title_justify="left")
        tasks.add_column("host")
        tasks.add_column("task")
        tasks.add_column("diff", justify="right")
        for change in recorder.changes:
            where = f"{change.role} : {change.task}" if change.role else change.task
            tasks.add_row(change.host, where, f"{change.diff.count(chr(10))} lines" if change.diff else "-")
        console.print(tasks)
    else:
        console.print(Text("No changes: every host is converged.", style="green"))
    if show_diff:
        from rich.syntax import Syntax

        for change in recorder.changes:
            if change.diff:
                console.print(Text(f"--- {change.host}: {change.role} : {change.task}", style="bold"))
                console.print(Syntax(change.diff, "diff", theme="ansi_dark", background_color="default"))
    print_failures(console, recorder)
    _footer(console, run_dir, code)


def _footer(console: Console, run_dir: Path, code: int) -> None:
    style = "green" if code == 0 else "bold red"
    console.print(Text.assemble(("result: ", "dim"), (MEANING.get(code, "error"), style),
                                (f" (exit {code})  artifacts: {run_dir}", "dim")))
