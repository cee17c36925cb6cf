"""The verifiers' shared checks must fail when the behaviour is missing (an empty recap is not
"nothing changed"; a host that never ran is not "unchanged")."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "molecule" / "shared"))

from scenario_helpers import assert_nothing_changed, wait_for

RECAP = {"pg1": {"ok": 30, "changed": 0, "unreachable": 0, "failed": 0},
         "pg2": {"ok": 28, "changed": 0, "unreachable": 0, "failed": 0}}


def test_a_converged_recap_passes():
    assert_nothing_changed(RECAP, "", ["pg1", "pg2"])


@pytest.mark.parametrize(("recap", "hosts", "message"), [
    ({}, ["pg1"], "no PLAY RECAP"),
    ({"pg1": RECAP["pg1"]}, ["pg1", "pg2"], "hosts missing from the recap: ['pg2']"),
    ({**RECAP, "pg2": {**RECAP["pg2"], "changed": 1}}, ["pg1", "pg2"], "hosts that changed: {'pg2': 1}"),
])
def test_what_must_fail_fails(recap, hosts, message):
    with pytest.raises(AssertionError, match=message.replace("[", r"\[").replace("{", r"\{")):
        assert_nothing_changed(recap, "output tail", hosts)


def test_wait_for_returns_the_value_retries_and_times_out():
    answers = iter([None, KeyError("not yet"), {"state": "Established"}])

    def check():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_for(check, 5, "the session", retry_on=(KeyError,)) == {"state": "Established"}
    with pytest.raises(AssertionError, match="timed out after 0 s waiting for never"):
        wait_for(lambda: None, 0, "never")
