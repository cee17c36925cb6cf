"""Fold ansible-runner's event stream into what the user is shown: pure, no I/O.

Per host: ok / changed / failed / unreachable / skipped counts and the time from its first
to its last result. Per run: the play and task under way, failed tasks with their messages,
and every change (with its diff, for plans).

Counts: while the run goes, the recorder counts results (the live view shows them); when
Ansible's recap (playbook_on_stats) arrives, its counts are the host's counts. A run stopped
before the recap keeps the counted ones.

Changes of ``no_log`` tasks: ansible-runner censors their whole result, ``changed`` included,
so the recorder reads Ansible's own status line of the event (``changed: [host]``) instead: the
change is listed (task and host, no diff), never lost.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime

RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}
# Ansible's status line for a changed result ("changed: [pg1]", "changed: [pg1 -> backup1]").
CHANGED_LINE = re.compile(r"^changed: \[", re.MULTILINE)


COUNTS = ("ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored")
# Ansible's recap names for them (ansible-runner's ``Runner.stats``).
STATS_KEYS = {"ok": "ok", "changed": "changed", "failures": "failed", "dark": "unreachable",
              "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}


@dataclass
class HostTally:
    name: str
    # Counted from the results while the run goes (what the live view shows).
    seen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    # Ansible's recap, once it came: the host's counts from then on.
    recap: dict[str, int] | None = None
    first: datetime | None = None
    last: datetime | None = None

    def count(self, name: str) -> int:
        return (self.recap if self.recap is not None else self.seen)[name]

    ok = property(lambda self: self.count("ok"))
    changed = property(lambda self: self.count("changed"))
    failed = property(lambda self: self.count("failed"))
    unreachable = property(lambda self: self.count("unreachable"))
    skipped = property(lambda self: self.count("skipped"))
    rescued = property(lambda self: self.count("rescued"))
    ignored = property(lambda self: self.count("ignored"))

    @property
    def duration(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return (self.last - self.first).total_seconds()

    @property
    def state(self) -> str:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        return "changed" if self.changed else "ok"


@dataclass(frozen=True)
class TaskFailure:
    host: str
    task: str
    role: str
    message: str
    unreachable: bool = False


@dataclass(frozen=True)
class Change:
    host: str
    task: str
    role: str
    diff: str  # unified diff text, empty when the module reports none
    hidden: bool = False  # a no_log task: changed, what changed is not shown


@dataclass(frozen=True)
class Report:
    """What a playbook chose to tell (a debug task's msg): incident playbooks report this way."""

    host: str
    task: str
    lines: tuple[str, ...]


DEBUG_ACTIONS = {"debug", "ansible.builtin.debug", "ansible.legacy.debug"}


@dataclass
class RunRecorder:
    hosts: dict[str, HostTally] = field(default_factory=dict)
    failures: list[TaskFailure] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    play: str = ""
    task: str = ""
    role: str = ""
    # (host, task uuid) of no_log loop tasks an item of which changed.
    _hidden_item_changes: set[tuple[str, str]] = field(default_factory=set)

    def _host(self, name: str) -> HostTally:
        if name not in self.hosts:
            self.hosts[name] = HostTally(name)
        return self.hosts[name]

    def handle(self, event: dict) -> None:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self.play = data.get("play", "")
            self.task = self.role = ""
        elif kind == "playbook_on_task_start":
            self.task = data.get("task", "")
            self.role = data.get("role", "") or ""
        elif kind in RESULT_EVENTS:
            self._result(RESULT_EVENTS[kind], data, event.get("stdout") or "")
        elif (kind == "runner_item_on_ok" and _censored(data.get("res"))
              and CHANGED_LINE.search(event.get("stdout") or "")):
            self._hidden_item_changes.add((data.get("host", ""), data.get("task_uuid", "")))
        elif kind == "playbook_on_stats":
            self._final_stats(data)

    def _result(self, outcome: str, data: dict, stdout: str) -> None:
        host = data.get("host")
        if not host:
            return
        tally = self._host(host)
        for stamp in (data.get("start"), data.get("end")):
            if stamp:
                moment = datetime.fromisoformat(stamp)
                tally.first = moment if tally.first is None else min(tally.first, moment)
                tally.last = moment if tally.last is None else max(tally.last, moment)
        res = data.get("res") or {}
        task = data.get("task", "")
        role = data.get("role", "") or ""
        if outcome == "failed" and data.get("ignore_errors"):
            tally.seen["ignored"] += 1
            return
        tally.seen[outcome] += 1
        if outcome == "ok" and data.get("task_action") in DEBUG_ACTIONS and "msg" in res:
            msg = res["msg"]
            lines = tuple(str(line) for line in msg) if isinstance(msg, list) else tuple(str(msg).splitlines())
            self.reports.append(Report(host, task, lines))
        hidden = _censored(res)
        changed = res.get("changed") if not hidden else (
            bool(CHANGED_LINE.search(stdout)) or (host, data.get("task_uuid", "")) in self._hidden_item_changes)
        if outcome == "ok" and changed:
            tally.seen["changed"] += 1
            self.changes.append(Change(host, task, role, "" if hidden else render_diff(res), hidden=hidden))
        elif outcome in ("failed", "unreachable"):
            self.failures.append(
                TaskFailure(host, task, role, failure_message(res), unreachable=outcome == "unreachable")
            )

    def _final_stats(self, data: dict) -> None:
        """Ansible's recap: from now on each host's counts (hosts it names that sent no result too)."""
        self.apply_stats({key: data.get(key) or {} for key in STATS_KEYS})

    def apply_stats(self, stats: dict[str, dict[str, int]]) -> None:
        names = {host for per_host in stats.values() for host in (per_host or {})}
        for host in names:
            self._host(host).recap = {target: (stats.get(source) or {}).get(host, 0)
                                      for source, target in STATS_KEYS.items()}

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(h.name for h in self.hosts.values() if h.failed)

    @property
    def unreachable_hosts(self) -> list[str]:
        return sorted(h.name for h in self.hosts.values() if h.unreachable)

    def changes_by_role(self) -> dict[str, dict[str, int]]:
        """{role: {host: number of changed tasks}} for a plan's summary."""
        table: dict[str, dict[str, int]] = {}
        for change in self.changes:
            per_host = table.setdefault(change.role or "(play)", {})
            per_host[change.host] = per_host.get(change.host, 0) + 1
        return table


def _censored(res: object) -> bool:
    return isinstance(res, dict) and "censored" in res and "changed" not in res


def failure_message(res: dict) -> str:
    """The most useful line(s) of a failed result: msg, then stderr, then stdout."""
    if res.get("censored"):
        return str(res["censored"])
    for key in ("msg", "stderr", "stdout", "reason"):
        value = res.get(key)
        if value:
            return str(value).strip()
    for item in res.get("results") or []:
        if isinstance(item, dict) and item.get("failed"):
            return failure_message(item)
    return "task failed (no message)"


def render_diff(res: dict) -> str:
    """Unified diff text from a module result's ``diff`` (one dict, a list, or per loop item)."""
    parts: list[str] = []
    diffs = res.get("diff")
    if isinstance(diffs, dict):
        diffs = [diffs]
    for diff in diffs or []:
        parts.append(_one_diff(diff))
    for item in res.get("results") or []:
        if isinstance(item, dict) and item.get("changed"):
            parts.append(render_diff(item))
    return "".join(p for p in parts if p)


def _one_diff(diff: dict) -> str:
    if diff.get("prepared"):
        return str(diff["prepared"]).rstrip("\n") + "\n"
    before, after = diff.get("before", ""), diff.get("after", "")
    if not isinstance(before, str) or not isinstance(after, str):
        before, after = _as_text(before), _as_text(after)
    if before == after:
        return ""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True) or [""],
            after.splitlines(keepends=True) or [""],
            fromfile=str(diff.get("before_header", "before")),
            tofile=str(diff.get("after_header", "after")),
        )
    )


def _as_text(value: object) -> str:
    if isinstance(value, dict):
        return "".join(f"{k}: {v}\n" for k, v in sorted(value.items()))
    return "" if value is None else f"{value}\n"
