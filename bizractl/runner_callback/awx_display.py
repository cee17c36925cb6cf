"""ansible-runner's event callback with less work per event, for bizractl's direct runs.

ansible-runner makes `awx_display` the stdout callback of every run and loads it from
AWX_LIB_DIRECTORY when that is set; bizractl sets it to this directory (runspec.py). The callback
runs inside ansible-playbook's strategy process, the one process every task waits on, so what it
spends per event is wall time (about 1 ms an event with ansible-runner's own, bench/README.md).
This subclass of ansible-runner's callback does two things less, nothing else:

- no `runner_on_start` event for each host and task (about half of a no-op run's events; bizractl
  reads none of them). The start time is still kept, for the `start`/`end` of the host's result;
- results that did not fail leave out `invocation` (the module's arguments echoed back) and
  `ansible_facts`: the bulk of an event's bytes, read by nothing. A failed or unreachable result
  keeps everything, for the run's artifacts.

Runs in an execution environment keep ansible-runner's own callback (it copies that one into the
container). Subclassing ties this file to ansible-runner 2.4's callback: pyproject.toml pins it, and
tests/unit/bizractl/test_lifecycle.py runs a real playbook through it.
"""

from __future__ import annotations

from ansible_runner.display_callback.callback import awx_display as runner_callback

DOCUMENTATION = """
    name: awx_display
    short_description: ansible-runner's event dispatcher, with less work per event (bizractl)
    description:
        - ansible-runner's awx_display without per-host start events and without the module
          arguments and facts of results that did not fail.
    type: stdout
    extends_documentation_fragment:
      - default_callback
    requirements:
      - Set as stdout in config
"""

# Events whose results stay whole.
_FAILED_EVENTS = frozenset({"runner_on_failed", "runner_on_unreachable", "runner_item_on_failed",
                            "runner_on_async_failed"})
_UNREAD_RESULT_KEYS = ("invocation", "ansible_facts")


def _without_unread_keys(result):
    if not isinstance(result, dict) or not any(key in result for key in _UNREAD_RESULT_KEYS):
        return result
    return {key: value for key, value in result.items() if key not in _UNREAD_RESULT_KEYS}


class CallbackModule(runner_callback.CallbackModule):
    CALLBACK_NAME = "awx_display"

    def v2_runner_on_start(self, host, task):
        self._host_start[host.get_name()] = runner_callback.current_time()
        # What the display shows (nothing unless show_per_host_start), without an event.
        runner_callback.DefaultCallbackModule.v2_runner_on_start(self, host, task)

    def capture_event_data(self, event, **event_data):
        result = event_data.get("res")
        if event not in _FAILED_EVENTS and isinstance(result, dict):
            result = _without_unread_keys(result)
            if isinstance(result.get("results"), list):
                result = {**result, "results": [_without_unread_keys(item) for item in result["results"]]}
            event_data["res"] = result
        return super().capture_event_data(event, **event_data)
