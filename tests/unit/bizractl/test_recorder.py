from bizractl.recorder import RunRecorder, failure_message, render_diff


def result(kind: str, host: str, task: str = "t", role: str = "base", res: dict | None = None, **extra) -> dict:
    data = {"host": host, "task": task, "role": role, "res": res or {},
            "start": "2026-11-23T06:00:00.000000", "end": "2026-11-23T06:00:02.500000"}
    data.update(extra)
    return {"event": kind, "event_data": data}


def test_counts_current_task_and_duration():
    rec = RunRecorder()
    rec.handle({"event": "playbook_on_play_start", "event_data": {"play": "Converge"}})
    rec.handle({"event": "playbook_on_task_start", "event_data": {"task": "Install", "role": "base"}})
    rec.handle(result("runner_on_ok", "pg1", res={"changed": True}))
    rec.handle(result("runner_on_ok", "pg1", res={"changed": False}, start="2026-11-23T06:00:05.000000",
                      end="2026-11-23T06:00:10.000000"))
    rec.handle(result("runner_on_skipped", "pg2"))
    assert (rec.play, rec.role, rec.task) == ("Converge", "base", "Install")
    pg1 = rec.hosts["pg1"]
    assert (pg1.ok, pg1.changed, pg1.failed) == (2, 1, 0)
    assert pg1.duration == 10.0
    assert rec.hosts["pg2"].skipped == 1
    assert pg1.state == "changed"


def test_failures_keep_host_task_and_message():
    rec = RunRecorder()
    rec.handle(result("runner_on_failed", "pg1", task="Check", res={"msg": "base: base_timezone 'X' is bad"}))
    rec.handle(result("runner_on_unreachable", "pg2", task="Gather", res={"msg": "ssh: connect timed out"}))
    assert rec.failed_hosts == ["pg1"]
    assert rec.unreachable_hosts == ["pg2"]
    assert rec.failures[0].message == "base: base_timezone 'X' is bad"
    assert rec.failures[1].unreachable


def test_ignored_failure_is_not_a_failure():
    rec = RunRecorder()
    rec.handle(result("runner_on_failed", "pg1", res={"msg": "nope"}, ignore_errors=True))
    assert rec.failed_hosts == [] and rec.failures == []
    assert rec.hosts["pg1"].ignored == 1


def test_final_stats_are_authoritative():
    rec = RunRecorder()
    rec.handle(result("runner_on_ok", "pg1", res={"changed": True}))
    rec.handle({"event": "playbook_on_stats", "event_data": {
        "ok": {"pg1": 20}, "changed": {"pg1": 3}, "failures": {}, "dark": {"pg2": 1}, "skipped": {"pg1": 2}}})
    assert (rec.hosts["pg1"].ok, rec.hosts["pg1"].changed, rec.hosts["pg1"].skipped) == (20, 3, 2)
    assert rec.hosts["pg2"].unreachable == 1


def test_changes_by_role_for_plans():
    rec = RunRecorder()
    rec.handle(result("runner_on_ok", "pg1", role="base", res={"changed": True}))
    rec.handle(result("runner_on_ok", "pg2", role="base", res={"changed": True}))
    rec.handle(result("runner_on_ok", "pg1", role="postgresql", res={"changed": True}))
    rec.handle(result("runner_on_ok", "pg1", role="postgresql", res={"changed": True}))
    rec.handle(result("runner_on_ok", "pg1", role="", res={"changed": True}))
    assert rec.changes_by_role() == {"base": {"pg1": 1, "pg2": 1}, "postgresql": {"pg1": 2}, "(play)": {"pg1": 1}}


def test_render_diff_from_before_after():
    text = render_diff({"diff": {"before": "a\nb\n", "after": "a\nc\n", "before_header": "/etc/x",
                                 "after_header": "/etc/x"}})
    assert "--- /etc/x" in text and "-b\n" in text and "+c\n" in text


def test_render_diff_prepared_and_loop_items():
    res = {"results": [
        {"changed": True, "diff": [{"prepared": "+ user alice"}]},
        {"changed": False, "diff": [{"prepared": "+ should not show"}]},
    ]}
    assert render_diff(res) == "+ user alice\n"


def test_render_diff_of_structured_state():
    text = render_diff({"diff": {"before": {"state": "absent"}, "after": {"state": "directory"}}})
    assert "-state: absent" in text and "+state: directory" in text


def test_failure_message_prefers_msg_then_stderr_and_respects_no_log():
    assert failure_message({"msg": "m", "stderr": "e"}) == "m"
    assert failure_message({"stderr": "  e  "}) == "e"
    censored = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
    assert failure_message({"censored": censored, "msg": "secret"}) == censored
    assert failure_message({"results": [{"failed": True, "msg": "item broke"}]}) == "item broke"
    assert failure_message({}) == "task failed (no message)"


def test_debug_messages_are_kept_as_reports():
    rec = RunRecorder()
    rec.handle(result("runner_on_ok", "edge1", task="Show BGP sessions (before)", role="",
                      res={"msg": ["ipv4Unicast 10.0.0.1 AS64512 Established"], "changed": False},
                      task_action="ansible.builtin.debug"))
    rec.handle(result("runner_on_ok", "edge1", task="Other", res={"msg": "not a debug task"},
                      task_action="ansible.builtin.command"))
    assert [(r.host, r.task, r.lines) for r in rec.reports] == [
        ("edge1", "Show BGP sessions (before)", ("ipv4Unicast 10.0.0.1 AS64512 Established",))]


CENSORED = {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result"}


def test_a_changed_no_log_task_is_listed_as_a_hidden_change():
    # ansible-runner censors the whole result of a no_log task, "changed" included: Ansible's own
    # status line says what happened (a BGP policy run changed 2 tasks and listed 1 before).
    rec = RunRecorder()
    rec.handle({**result("runner_on_ok", "edge1", task="Write frr.conf", role="frr_bgp", res=dict(CENSORED)),
                "stdout": "changed: [edge1]"})
    rec.handle({**result("runner_on_ok", "edge1", task="Read the state", role="frr_bgp", res=dict(CENSORED)),
                "stdout": "ok: [edge1]"})
    rec.handle({**result("runner_on_ok", "edge1", task="Reload frr", role="frr_bgp", res={"changed": True}),
                "stdout": "changed: [edge1]"})
    assert [(c.task, c.hidden, c.diff) for c in rec.changes] == [
        ("Write frr.conf", True, ""), ("Reload frr", False, "")]
    rec.handle({"event": "playbook_on_stats", "event_data": {"ok": {"edge1": 3}, "changed": {"edge1": 2}}})
    assert rec.hosts["edge1"].changed == len(rec.changes) == 2


def test_a_no_log_loop_with_one_changed_item_is_a_change():
    rec = RunRecorder()
    item = {"event": "runner_item_on_ok", "event_data": {"host": "pg1", "task_uuid": "u1", "res": dict(CENSORED)}}
    rec.handle({**item, "stdout": "ok: [pg1] => (item=(censored due to no_log))"})
    rec.handle({**item, "stdout": "changed: [pg1] => (item=(censored due to no_log))"})
    rec.handle({**result("runner_on_ok", "pg1", task="Set passwords", res=dict(CENSORED), task_uuid="u1"),
                "stdout": ""})
    rec.handle({**result("runner_on_ok", "pg1", task="Other loop", res=dict(CENSORED), task_uuid="u2"), "stdout": ""})
    assert [(c.task, c.hidden) for c in rec.changes] == [("Set passwords", True)]


def test_counts_come_from_the_recap_once_it_arrives_and_from_results_before():
    rec = RunRecorder()
    rec.handle(result("runner_on_ok", "pg1", res={"changed": True}))
    rec.handle(result("runner_on_skipped", "pg1"))
    assert (rec.hosts["pg1"].ok, rec.hosts["pg1"].changed, rec.hosts["pg1"].skipped) == (1, 1, 1)  # interrupted run
    rec.handle({"event": "playbook_on_stats", "event_data": {"ok": {"pg1": 7}, "changed": {"pg1": 1}}})
    assert (rec.hosts["pg1"].ok, rec.hosts["pg1"].changed, rec.hosts["pg1"].skipped) == (7, 1, 0)
