# Holds a playbook run at its start until bizractl's offline checks have passed, so the checks
# and Ansible's own start-up (imports, inventory, roles) run side by side instead of one after
# the other, and still no host is contacted before the checks say yes.
from __future__ import annotations

DOCUMENTATION = r"""
name: start_gate
type: aggregate
short_description: Wait at the playbook's start for bizractl's go
description:
  - Does nothing unless the environment names a gate file in C(BIZRA_START_GATE) (bizractl sets it
    for its runs).
  - At the playbook's start, before any play, it waits until the file says C(go). When it says
    C(stop), or the process that started ansible-playbook is gone, the run ends there, before any
    host was contacted.
author: bizra SRE
requirements:
  - enabled in callbacks_enabled (bizractl does it for its runs)
"""

import os  # noqa: E402 (DOCUMENTATION first, as in every plugin)
import time  # noqa: E402

from ansible.plugins.callback import CallbackBase  # noqa: E402

GATE_ENV = "BIZRA_START_GATE"
POLL_SECONDS = 0.02
# Exit code of a run stopped at the gate: bizractl reports its own reason (the checks' findings).
STOPPED_AT_THE_GATE = 250


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bizra.infra.start_gate"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        gate = os.environ.get(GATE_ENV)
        if not gate:
            return
        parent = os.getppid()
        while True:
            try:
                with open(gate, encoding="utf-8") as handle:
                    word = handle.read().strip()
            except FileNotFoundError:
                word = ""
            if word == "go":
                return
            if word == "stop" or os.getppid() != parent:
                # Before the first play: no worker, no connection exists yet, nothing to clean up.
                # (An exception here would only be a warning: Ansible carries on after a callback
                # fails.)
                os._exit(STOPPED_AT_THE_GATE)
            time.sleep(POLL_SECONDS)
