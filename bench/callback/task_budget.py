"""Benchmark-only callback (not shipped): tasks ok / changed / skipped per host and role.

Enabled by bench/site_noop.py for one extra, untimed run: ANSIBLE_CALLBACK_PLUGINS=bench/callback,
ANSIBLE_CALLBACKS_ENABLED=task_budget, BIZRA_TASK_BUDGET=<output json>. Tasks outside a role count
under "(play)".
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_budget
type: aggregate
short_description: tasks per host and role, written as JSON (bench only)
description: Counts ok, changed and skipped results per host and role and writes them to $BIZRA_TASK_BUDGET.
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_budget"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.counts = defaultdict(lambda: defaultdict(lambda: {"ok": 0, "changed": 0, "skipped": 0}))

    def _count(self, result, key):
        task = result._task
        role = task._role.get_name(include_role_fqcn=False) if task._role else "(play)"
        self.counts[result._host.get_name()][role][key] += 1

    def v2_runner_on_ok(self, result):
        self._count(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_skipped(self, result):
        self._count(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BIZRA_TASK_BUDGET")
        if path:
            with open(path, "w", encoding="utf-8") as out:
                json.dump(self.counts, out, indent=1, sort_keys=True)
