"""bizractl: converge the fleet (deploy), preview it (plan), run the local lab (lab).

Commands stay short: parse options, call the core, map the result to an exit code.
Heavy imports (ansible_runner, rich) happen inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import os
import sys
from functools import wraps
from pathlib import Path

import click

from bizractl import __version__
from bizractl.errors import BadInputError, BizraError
from bizractl.exitcodes import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_LOCKED, EXIT_TASK_FAILED, EXIT_UNREACHABLE
from bizractl.runlock import LockedError
from bizractl.settings import DEFAULT_RUNS_KEEP, ENV_PROJECT, Settings


def _fail(message: str, code: int) -> None:
    click.echo(f"bizractl: {message}", err=True)
    sys.exit(code)


def user_errors(func):
    """A BizraError is the user's to fix: a message and a distinct exit code, no traceback."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BadInputError as exc:
            _fail(str(exc), EXIT_BAD_INPUT)
        except LockedError as exc:
            _fail(str(exc), EXIT_LOCKED)
        except BizraError as exc:
            _fail(str(exc), EXIT_ERROR)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bizractl")
@click.option("--project", type=click.Path(file_okay=False),
              help=f"The bizra-infra checkout (default: ${ENV_PROJECT}, else found from the current directory).")
@click.pass_context
def main(ctx: click.Context, project: str | None) -> None:
    """Converge and preview the bizra fleet, and run its local lab.

    \b
    Exit codes:
      0 success            3 task failures
      1 unexpected error   4 unreachable hosts (no task failed)
      2 bad input          5 another deploy holds the inventory's lock
                           130 interrupted
    """
    ctx.obj = {"project": project}


def run_options(func):
    options = [
        click.argument("playbook"),
        click.option("-i", "--inventory", help="Inventory path or name under inventories/ (default: lab)."),
        click.option("-l", "--limit", help="Hosts or groups to run on (Ansible pattern)."),
        click.option("-t", "--tags", help="Only tasks with these tags (comma separated)."),
        click.option("--skip-tags", help="Skip tasks with these tags."),
        click.option("-e", "--extra-vars", "extra_vars", multiple=True,
                     help="key=value, a JSON/YAML mapping or @file; repeatable. Passed privately."),
        click.option("-f", "--forks", type=click.IntRange(1, 500), help="Hosts worked on in parallel."),
        click.option("--vault-password-file", type=click.Path(dir_okay=False),
                     help="File (or executable) giving the Ansible Vault password."),
        click.option("-v", "--verbose", count=True, help="Stream Ansible's own output (-vv... for more)."),
        click.option("--no-validate", "no_validate", is_flag=True,
                     help="Skip the offline checks of the inventory (bizractl validate) before the run."),
        click.option("--keep-runs", type=click.IntRange(1, 10_000),
                     help=f"Run directories kept under runs/ (default: $BIZRA_RUNS_KEEP, else {DEFAULT_RUNS_KEEP})."),
        click.option("--ee", "ee", is_flag=True,
                     help="Run inside this checkout's execution environment (podman; built when missing)."),
        click.option("--ee-image", metavar="IMAGE", help="Run inside this execution-environment image instead."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(ctx: click.Context, keep_runs: int | None = None) -> tuple[Settings, str]:
    """The settings (flag > environment > default) and what named the project, for errors."""
    project = ctx.obj["project"]
    settings = Settings.load(project=project, runs_keep=keep_runs)
    return settings, "--project" if project else ENV_PROJECT


def _run(ctx: click.Context, playbook: str, *, check: bool, diff: bool, show_diff: bool, **opts) -> None:
    from rich.console import Console

    from bizractl import lifecycle

    settings, named_by = _settings(ctx, opts.pop("keep_runs"))
    request = lifecycle.RunRequest(
        playbook=playbook, check=check, diff=diff, inventory=opts["inventory"], limit=opts["limit"],
        tags=opts["tags"], skip_tags=opts["skip_tags"], extra_vars=opts["extra_vars"], forks=opts["forks"],
        vault_password_file=opts["vault_password_file"], verbosity=opts["verbose"],
        validate=not opts.get("no_validate", False), ee=opts["ee"], ee_image=opts["ee_image"],
    )
    sys.exit(lifecycle.run(settings, request, Console(stderr=False, highlight=False), show_diff, named_by))


@main.command()
@run_options
@click.option("-C", "--check", is_flag=True, help="Check mode: change nothing.")
@click.option("-D", "--diff", is_flag=True, help="Show what files and settings change.")
@click.pass_context
@user_errors
def deploy(ctx: click.Context, playbook: str, check: bool, diff: bool, **opts) -> None:
    """Converge hosts with PLAYBOOK (a name in playbooks/, e.g. site.yml, or a path)."""
    _run(ctx, playbook, check=check, diff=diff, show_diff=False, **opts)


@main.command()
@run_options
@click.option("--show-diff", is_flag=True, help="Print every diff after the summary.")
@click.pass_context
@user_errors
def plan(ctx: click.Context, playbook: str, show_diff: bool, **opts) -> None:
    """Preview PLAYBOOK: check + diff mode, summarised per host and per role.

    Nothing on the hosts changes. The diffs are kept in the run directory (plan.diff).
    """
    _run(ctx, playbook, check=True, diff=True, show_diff=show_diff, **opts)


def _interactive() -> bool:
    return sys.stdin.isatty()


@main.command()
@click.argument("playbook", required=False)
@click.option("-i", "--inventory", help="Inventory path or name under inventories/ (default: lab).")
@click.option("-l", "--limit", help="Hosts or groups to run on (Ansible pattern).")
@click.option("-e", "--extra-vars", "extra_vars", multiple=True,
              help="key=value, a JSON/YAML mapping or @file; repeatable. Passed privately.")
@click.option("--confirm", "confirm", metavar="TARGET",
              help="For a destructive playbook: the target's name, instead of typing it at the prompt.")
@click.option("--vault-password-file", type=click.Path(dir_okay=False),
              help="File (or executable) giving the Ansible Vault password.")
@click.option("-v", "--verbose", count=True, help="Stream Ansible's own output (-vv... for more).")
@click.option("-C", "--check", is_flag=True, help="Check mode: change nothing.")
@click.pass_context
@user_errors
def incident(ctx: click.Context, playbook: str | None, confirm: str | None, check: bool, **opts) -> None:
    """List the incident playbooks, or run PLAYBOOK (a name from the list).

    A destructive one asks for its target's name (or takes --confirm TARGET) and refuses
    anything else before a host is touched; the playbook checks the name itself too.
    """
    from bizractl import incidents
    from bizractl.paths import find_project_root

    settings, named_by = _settings(ctx)
    root = find_project_root(settings.project, named_by=named_by)
    if playbook is None:
        for item in incidents.available(root):
            mark = "destructive" if item.destructive else ""
            click.echo(f"{item.name:<20} {mark:<12} {item.summary}")
        return
    item = incidents.find(root, playbook)
    extra_vars = tuple(opts.pop("extra_vars"))
    if item.destructive and not incidents.confirmation_given(extra_vars):
        if confirm is None:
            if not _interactive():
                raise BadInputError(f"incident/{item.name} is destructive ({item.destructive}): give --confirm TARGET "
                                    "when there is no terminal to type it at")
            confirm = click.prompt(f"incident/{item.name} is destructive: {item.destructive}\n"
                                   "Type the target's name to go on", prompt_suffix=": ")
        extra_vars += (f"{incidents.CONFIRM_VARIABLE}={confirm}",)
    # No offline validation of the whole inventory: an incident playbook checks its own input, and an
    # unrelated host's bad variable must not hold up an incident.
    _run(ctx, f"incident/{item.name}", check=check, diff=check, show_diff=False, tags=None, skip_tags=None,
         forks=None, keep_runs=None, extra_vars=extra_vars, no_validate=True, **opts)


def _inventory_target(ctx: click.Context, inventory: str | None, vault_password_file: str | None):
    """What the read-only commands (status, diag, validate) start from: the settings, the checkout,
    the inventory (its YAML checked) and the vault password file, all named by the user."""
    from bizractl import resolve
    from bizractl.paths import find_project_root

    settings, named_by = _settings(ctx)
    root = find_project_root(settings.project, named_by=named_by)
    inventory_path = resolve.resolve_inventory(root, inventory)
    resolve.check_inventory_syntax(inventory_path)
    return settings, root, inventory_path, resolve.vault_password_file(vault_password_file)


@main.command("status")
@click.option("-i", "--inventory", help="Inventory path or name under inventories/ (default: lab).")
@click.option("-l", "--limit", help="Hosts or groups to read (Ansible pattern).")
@click.option("--vault-password-file", type=click.Path(dir_okay=False),
              help="File (or executable) giving the Ansible Vault password.")
@click.option("-f", "--forks", type=click.IntRange(1, 500), help="Hosts read in parallel.")
@click.option("--json", "as_json", is_flag=True, help="Every host's components as JSON.")
@click.pass_context
@user_errors
def status_command(ctx: click.Context, inventory: str | None, limit: str | None, vault_password_file: str | None,
                   forks: int | None, as_json: bool) -> None:
    """The fleet's health in one read-only pass: reachable, last run, and per component BGP
    sessions, PostgreSQL role and lag, geth head and peers, RAID, firewall, Prometheus targets.

    Exit 0 when no host is critical (warnings are shown), 3 when one is, 4 when one is unreachable.
    """
    import json

    from rich.console import Console

    from bizractl import status as fleet
    from bizractl.paths import ensure_collection_link

    settings, root, inventory_path, vault_file = _inventory_target(ctx, inventory, vault_password_file)
    ensure_collection_link(root)
    statuses = fleet.read(root, inventory_path, limit=limit, vault_password_file=vault_file,
                          runs_dir=settings.runs_dir_for(root), forks=forks)
    if not statuses:
        raise BadInputError(f"no host of {inventory_path} matches {limit!r}" if limit else
                            f"{inventory_path} has no hosts")
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        # Wide when piped (a CI log, a ticket): the rows stay one line per host.
        Console(highlight=False, width=None if sys.stdout.isatty() else 220).print(fleet.table(statuses))
    if any(not s.reachable for s in statuses):
        sys.exit(EXIT_UNREACHABLE)
    sys.exit(EXIT_TASK_FAILED if any(s.health == "crit" for s in statuses) else 0)


@main.command("diag")
@click.argument("hosts", nargs=-1, required=True)
@click.option("-i", "--inventory", help="Inventory path or name under inventories/ (default: lab).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="The bundle's path (default: ./bizra-diag-<time>.tar.gz).")
@click.option("--vault-password-file", type=click.Path(dir_okay=False),
              help="File (or executable) giving the Ansible Vault password.")
@click.pass_context
@user_errors
def diag_command(ctx: click.Context, hosts: tuple[str, ...], inventory: str | None, output: str | None,
                 vault_password_file: str | None) -> None:
    """A diagnostics bundle of HOSTS (names or groups) for a ticket or a vendor: service states,
    journal tails, versions, configuration files and runtime state, secrets redacted on each host
    before they leave it. One owner-only (0600) tar.gz; nothing on the hosts changes.
    """
    from datetime import UTC, datetime

    from bizractl import status as fleet
    from bizractl.paths import ensure_collection_link

    _, root, inventory_path, vault_file = _inventory_target(ctx, inventory, vault_password_file)
    dest = Path(output or f"bizra-diag-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.tar.gz").resolve()
    if not dest.parent.is_dir():
        raise BadInputError(f"-o {output}: no such directory {dest.parent}")
    ensure_collection_link(root)
    result = fleet.collect(root, inventory_path, hosts, dest, vault_password_file=vault_file)
    if not result.hosts and not result.problems:
        dest.unlink(missing_ok=True)
        raise BadInputError(f"no host of {inventory_path} matches {', '.join(hosts)}")
    click.echo(f"{dest} (0600): {len(result.hosts)} host(s): {', '.join(result.hosts) or 'none'}")
    for host, problem in sorted(result.problems.items()):
        click.echo(f"  {host}: no bundle: {problem}")
    sys.exit(EXIT_UNREACHABLE if result.problems else 0)


@main.command("validate")
@click.argument("playbook", required=False, default="site.yml")
@click.option("-i", "--inventory", help="Inventory path or name under inventories/ (default: lab).")
@click.option("-l", "--limit",
              help="Check only these hosts (Ansible pattern); the rules across hosts read all of them.")
@click.option("-e", "--extra-vars", "extra_vars", multiple=True,
              help="key=value, a JSON/YAML mapping or @file; repeatable. Passed privately.")
@click.option("--vault-password-file", type=click.Path(dir_okay=False),
              help="File (or executable) giving the Ansible Vault password.")
@click.option("--json", "as_json", is_flag=True, help="The problems as JSON.")
@click.pass_context
@user_errors
def validate_command(ctx: click.Context, playbook: str, inventory: str | None, limit: str | None,
                     extra_vars: tuple[str, ...], vault_password_file: str | None, as_json: bool) -> None:
    """Check the inventory for PLAYBOOK (default site.yml) without contacting a host.

    Every host's variables against the argument specs and input rules of every role the playbook
    runs there, and the rules across hosts. Every problem at once; exit 2 if there is one.
    deploy and plan run these checks first (--no-validate skips them).
    """
    import json
    import shutil

    from bizractl import lifecycle, resolve, runs
    from bizractl import validate as offline

    _, root, inventory_path, vault_file = _inventory_target(ctx, inventory, vault_password_file)
    book = resolve.resolve_playbook(root, playbook)
    resolve.check_extra_vars(extra_vars)
    extra_dir, extra_files = runs.write_extra_vars(extra_vars)
    try:
        result = lifecycle.offline_checks(root, inventory_path, book, vault_file, extra_files, limit)
    finally:
        if extra_dir is not None:
            shutil.rmtree(extra_dir, ignore_errors=True)
    if as_json:
        click.echo(json.dumps({"ok": result.ok, "hosts": result.hosts, "checks": result.checks,
                               "left_to_hosts": result.host_side,
                               "problems": [f.as_dict() for f in result.findings]}, indent=2))
    elif result.ok:
        click.echo(offline.summary(result, inventory_path))
    else:
        click.echo(offline.format_findings(result, inventory_path), err=False)
    if not result.ok:
        sys.exit(EXIT_BAD_INPUT)


@main.group("ee")
def ee_group() -> None:
    """The execution environment: this collection and its dependencies in a podman image (ee/)."""


@ee_group.command("build")
@click.option("--rebuild", is_flag=True, help="Build even when this checkout's image exists.")
@click.pass_context
@user_errors
def ee_build(ctx: click.Context, rebuild: bool) -> None:
    """Build this checkout's execution-environment image (cached by content); print its name."""
    from bizractl import ee
    from bizractl.paths import find_project_root

    settings, named_by = _settings(ctx)
    root = find_project_root(settings.project, named_by=named_by)
    click.echo(ee.ensure_image(root, lambda message: click.echo(f"bizractl: {message}", err=True), rebuild=rebuild))


@main.group()
def audit() -> None:
    """The audit trail: one hash-chained record per deploy, plan and incident run (<runs dir>/audit.log)."""


def _audit_log(ctx: click.Context):
    from bizractl import audit as audit_trail
    from bizractl.paths import find_project_root

    settings, named_by = _settings(ctx)
    return audit_trail.log_path(settings.runs_dir_for(find_project_root(settings.project, named_by=named_by)))


@audit.command("list")
@click.option("-n", "--last", "last", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the newest records.")
@click.option("--json", "as_json", is_flag=True, help="The records as JSON lines.")
@click.pass_context
@user_errors
def audit_list(ctx: click.Context, last: int, as_json: bool) -> None:
    """Show the newest records: when, who, what, against which inventory, and the result."""
    import json

    from rich.console import Console
    from rich.table import Table

    from bizractl import audit as audit_trail

    records = audit_trail.read(_audit_log(ctx))[-last:]
    if as_json:
        for record in records:
            click.echo(json.dumps(record, sort_keys=True))
        return
    table = Table(title=f"audit trail ({len(records)} newest)", title_justify="left")
    for column in ("seq", "time", "user", "verb", "playbook", "inventory", "limit", "-e names", "result",
                   "changed"):
        table.add_column(column)
    for r in records:
        table.add_row(str(r["seq"]), r["time"], f"{r['user']}@{r['controller']}", r["verb"], r["playbook"],
                      Path(r["inventory"]).name, r.get("limit") or "", ",".join(r.get("extra_vars", [])),
                      r["result"], str(len(r.get("changed_tasks", []))))
    Console().print(table)


@audit.command("verify")
@click.pass_context
@user_errors
def audit_verify(ctx: click.Context) -> None:
    """Check every record's hash and the chain; name the first edited, removed or reordered record."""
    from bizractl import audit as audit_trail

    path = _audit_log(ctx)
    count, problem = audit_trail.verify(path)
    if problem is not None:
        _fail(f"audit trail {path}: {problem.message} ({count} record(s) read)", EXIT_ERROR)
    click.echo(f"audit trail {path}: {count} record(s), chain intact")


@main.group()
def lab() -> None:
    """The local lab: the lab inventory's hosts as systemd containers or qemu VMs, reached over SSH."""


def lab_options(func):
    func = click.option("-i", "--inventory", help="Lab inventory path or name (default: lab).")(func)
    func = click.option("--host", "hosts", multiple=True, help="Only this lab host (repeatable).")(func)
    return func


def _lab_spec(ctx: click.Context, inventory: str | None, hosts: tuple[str, ...] = ()):
    from bizractl import resolve
    from bizractl.lab.spec import load_lab_spec
    from bizractl.paths import find_project_root
    from bizractl.runspec import fact_cache_dir

    settings, named_by = _settings(ctx)
    root = find_project_root(settings.project, named_by=named_by)
    inventory_path = resolve.resolve_inventory(root, inventory)
    return fact_cache_dir(root, inventory_path), load_lab_spec(inventory_path, list(hosts) or None)


@lab.command("up")
@lab_options
@click.pass_context
@user_errors
def lab_up(ctx: click.Context, inventory: str | None, hosts: tuple[str, ...]) -> None:
    """Build the lab images if needed and start the lab hosts (already running ones stay)."""
    from bizractl.lab import manager

    facts, spec = _lab_spec(ctx, inventory, hosts)
    manager.up(spec, click.echo, fact_cache=facts)


@lab.command("down")
@lab_options
@click.pass_context
@user_errors
def lab_down(ctx: click.Context, inventory: str | None, hosts: tuple[str, ...]) -> None:
    """Remove the lab hosts and the lab network."""
    from bizractl.lab import manager

    facts, spec = _lab_spec(ctx, inventory, hosts)
    manager.down(spec, click.echo, fact_cache=facts, keep_network=bool(hosts))


@lab.command("status")
@lab_options
@click.pass_context
@user_errors
def lab_status(ctx: click.Context, inventory: str | None, hosts: tuple[str, ...]) -> None:
    """Show each lab host's state and address."""
    from rich.console import Console
    from rich.table import Table

    from bizractl.lab import manager

    _, spec = _lab_spec(ctx, inventory, hosts)
    table = Table(title=f"lab {spec.name} on {spec.network_name} ({spec.network_subnet})", title_justify="left")
    for column in ("host", "kind", "address", "state", "ssh"):
        table.add_column(column)
    for row in manager.status(spec):
        style = {"running": "green", "outdated": "yellow"}.get(row.state, "red")
        table.add_row(row.name, row.kind, row.address, f"[{style}]{row.state}[/]", "yes" if row.ssh else "no")
    Console().print(table)


@lab.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("-i", "--inventory", help="Lab inventory path or name (default: lab).")
@click.pass_context
@user_errors
def lab_ssh(ctx: click.Context, host: str, command: tuple[str, ...], inventory: str | None) -> None:
    """Open an SSH session (or run COMMAND) on lab host HOST, as root with the lab key."""
    from bizractl.lab import manager

    _, spec = _lab_spec(ctx, inventory)
    argv = manager.ssh_argv(spec.host(host), list(command))
    os.execvp(argv[0], argv)
