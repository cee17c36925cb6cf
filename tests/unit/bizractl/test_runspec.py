import shlex
from pathlib import Path

from bizractl.runspec import RunSpec, build_cmdline, build_runner_kwargs, fact_cache_dir


def make_spec(**overrides) -> RunSpec:
    values = {
        "project_root": Path("/srv/bizra"),
        "playbook": Path("/srv/bizra/playbooks/site.yml"),
        "inventory": Path("/srv/bizra/inventories/lab"),
        "run_dir": Path("/srv/bizra/runs/r1"),
    }
    values.update(overrides)
    return RunSpec(**values)


def test_minimal_run():
    kwargs = build_runner_kwargs(make_spec())
    assert kwargs["playbook"] == "/srv/bizra/playbooks/site.yml"
    assert kwargs["inventory"] == "/srv/bizra/inventories/lab"
    assert kwargs["private_data_dir"] == "/srv/bizra/runs/r1"
    assert kwargs["artifact_dir"] == "/srv/bizra/runs/r1/artifacts"
    assert kwargs["cmdline"] == ""
    assert "limit" not in kwargs and "tags" not in kwargs and "forks" not in kwargs
    assert kwargs["quiet"] is True


def test_environment_keeps_host_key_checking_and_our_fact_cache():
    env = build_runner_kwargs(make_spec())["envvars"]
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert env["ANSIBLE_CONFIG"] == "/srv/bizra/ansible.cfg"
    assert env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] == "/srv/bizra/.cache/facts/lab"
    assert env["ANSIBLE_FORCE_HANDLERS"] == "True"


def test_ansible_runner_loads_our_lighter_event_callback():
    callback_dir = Path(build_runner_kwargs(make_spec())["envvars"]["AWX_LIB_DIRECTORY"])
    assert (callback_dir / "awx_display.py").is_file()


def test_fact_cache_is_per_inventory():
    root = Path("/srv/bizra")
    lab, production = root / "inventories" / "lab", root / "inventories" / "production"
    assert fact_cache_dir(root, lab) != fact_cache_dir(root, production)


def test_every_option_reaches_ansible():
    spec = make_spec(
        limit="pg*", tags="base::sshd", skip_tags="slow", check=True, diff=True, forks=7,
        vault_password_file=Path("/home/sre/.vault pass"), verbosity=2,
        extra_vars_files=(Path("/tmp/x/extra-0.json"),),
    )
    kwargs = build_runner_kwargs(spec)
    assert kwargs["limit"] == "pg*"
    assert kwargs["tags"] == "base::sshd"
    assert kwargs["skip_tags"] == "slow"
    assert kwargs["forks"] == 7
    assert kwargs["verbosity"] == 2
    assert shlex.split(kwargs["cmdline"]) == [
        "--check", "--diff", "--vault-password-file", "/home/sre/.vault pass", "-e", "@/tmp/x/extra-0.json",
    ]


def test_extra_var_values_never_appear_on_the_command_line():
    assert build_cmdline(make_spec(extra_vars_files=(Path("/t/extra-0.json"),))) == ["-e", "@/t/extra-0.json"]


def test_a_run_with_checks_pending_waits_at_the_start_gate_beside_the_users_callbacks(tmp_path, monkeypatch):
    (tmp_path / "ansible.cfg").write_text("[defaults]\ncallbacks_enabled = ansible.posix.profile_tasks\n")
    spec = make_spec(project_root=tmp_path, run_dir=tmp_path / "runs" / "r1", checks=object())
    monkeypatch.delenv("ANSIBLE_CALLBACKS_ENABLED", raising=False)
    env = build_runner_kwargs(spec)["envvars"]
    assert env["BIZRA_START_GATE"] == str(tmp_path / "runs" / "r1" / "start-gate")
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "ansible.posix.profile_tasks,bizra.infra.start_gate"
    monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", "timer, bizra.infra.start_gate")
    assert build_runner_kwargs(spec)["envvars"]["ANSIBLE_CALLBACKS_ENABLED"] == "timer,bizra.infra.start_gate"
    # Checked before the run (or not at all): no gate, the user's callbacks untouched.
    unchecked = build_runner_kwargs(make_spec(project_root=tmp_path))["envvars"]
    assert "BIZRA_START_GATE" not in unchecked and "ANSIBLE_CALLBACKS_ENABLED" not in unchecked
