"""The end-of-run report: what many hosts say alike is printed once, with their names."""

import io

from rich.console import Console

from bizractl.recorder import Report, RunRecorder, TaskFailure
from bizractl.report import print_failures, print_reports


def _printed(fill) -> str:
    out = io.StringIO()
    recorder = RunRecorder()
    fill(recorder)
    console = Console(file=out, force_terminal=False, width=200)
    print_reports(console, recorder)
    print_failures(console, recorder)
    return out.getvalue()


def test_the_same_notice_on_seven_hosts_is_printed_once_with_their_names():
    hosts = ["edge1", "mon1", "pg1", "pg2", "svc1", "upstream1", "upstream2"]
    text = _printed(lambda r: r.reports.extend(
        [Report(h, "Report what a container cannot do", (f"kernel_tuning: {h} is a container: nothing tuned",))
         for h in hosts] * 2  # two plays say it again
        + [Report("pg1", "Show the cluster", ("pg1 is the primary",))]))
    assert text.count("is a container") == 1
    assert "edge1, mon1, pg1, pg2, svc1, upstream1, upstream2 (7 hosts)" in text
    assert "kernel_tuning: each host is a container: nothing tuned" in text
    assert "pg1 is the primary" in text  # one host: its own words


def test_a_failure_shared_by_hosts_is_listed_once_and_different_ones_apart():
    text = _printed(lambda r: r.failures.extend([
        TaskFailure("pg1", "Check input", "postgresql", "postgresql: invalid input on pg1: bad size"),
        TaskFailure("pg2", "Check input", "postgresql", "postgresql: invalid input on pg2: bad size"),
        TaskFailure("pg3", "Check input", "postgresql", "postgresql: invalid input on pg3: no standby"),
    ]))
    assert text.count("FAILED") == 2
    assert "pg1, pg2 (2 hosts)  FAILED  postgresql : Check input" in text
    assert "invalid input on each host: bad size" in text
    assert "invalid input on pg3: no standby" in text
