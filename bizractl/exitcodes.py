"""bizractl's exit codes: distinct, documented, stable (README "Exit codes")."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1  # Ansible or bizractl failed unexpectedly (see the run's artifacts)
EXIT_BAD_INPUT = 2  # unknown playbook, missing inventory, bad option, playbook syntax error
EXIT_TASK_FAILED = 3  # one or more tasks failed on one or more hosts
EXIT_UNREACHABLE = 4  # hosts unreachable, no task failed
EXIT_LOCKED = 5  # another deploy against the same inventory is running
EXIT_INTERRUPTED = 130  # interrupted (Ctrl-C); hosts may be mid-change, re-run to converge

MEANING = {
    EXIT_OK: "success",
    EXIT_ERROR: "unexpected error",
    EXIT_BAD_INPUT: "bad input",
    EXIT_TASK_FAILED: "task failures",
    EXIT_UNREACHABLE: "unreachable hosts",
    EXIT_LOCKED: "locked by another deploy",
    EXIT_INTERRUPTED: "interrupted",
}

# ansible-playbook's own return codes (ansible/cli/__init__.py).
_ANSIBLE_PARSER_ERROR = 4
_ANSIBLE_BAD_OPTIONS = 5
_ANSIBLE_USER_INTERRUPTED = 99


def map_exit_code(status: str, ansible_rc: int | None, failed_hosts: int, unreachable_hosts: int) -> int:
    """Turn ansible-runner's status and ansible-playbook's rc into bizractl's exit code.

    Host results win over the raw rc: a run with failed tasks is EXIT_TASK_FAILED even if
    some hosts were also unreachable (failures need a human first).
    """
    if status == "canceled" or ansible_rc == _ANSIBLE_USER_INTERRUPTED:
        return EXIT_INTERRUPTED
    if failed_hosts:
        return EXIT_TASK_FAILED
    if unreachable_hosts:
        return EXIT_UNREACHABLE
    if status == "successful" and ansible_rc == 0:
        return EXIT_OK
    if ansible_rc in (_ANSIBLE_PARSER_ERROR, _ANSIBLE_BAD_OPTIONS):
        return EXIT_BAD_INPUT
    return EXIT_ERROR
