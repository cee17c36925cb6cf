"""`bizractl validate`: the inventory checked on the controller, no host contacted.

For every host a playbook (site.yml by default) would converge, and every role it would run there:
the role's argument spec (meta/argument_specs.yml, entry point main) and the role's own input
rules (the assert tasks of roles/<role>/tasks/validate.yml), evaluated here with Ansible's own
templar on the host's variables. The roles run the same checks when they converge, so
`ansible-playbook bizra.infra.site` users are protected too: one definition, two callers.
Then rules across hosts that no single role sees (CROSS_HOST_RULES).

Checks that need what only the host can tell (its facts, a file on it) use the fact cache when it
has the host, and are otherwise left to the role on the host: the report counts them.

Ansible keeps global state (configuration, the collection loader), so the checks run in a child
Python process (`python -m bizractl.validate`) with the project's ansible.cfg; this module's
`validate()` starts it and reads its JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bizractl.errors import BadInputError

# Roles a playbook runs for their tasks, not for input (shared steps).
_SHARED_ROLES = {"common"}
# Entry points of include_role that run the role's checks (the whole role, or its validate).
_CHECKING_ENTRY_POINTS = {None, "main", "validate"}
_UNDEFINED_NAME = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)' is undefined")
_VAULT_VARIABLE = re.compile(r"^vault_")
# Keys of a play's role entry that are not the role's parameters.
_ROLE_KEYWORDS = {"role", "name", "when", "tags", "vars", "become", "become_user", "delegate_to", "environment",
                  "any_errors_fatal", "ignore_errors", "no_log", "check_mode", "diff"}
_VAULT_REFERENCE = re.compile(r"\b(vault_[A-Za-z0-9_]+)")
_DEFINE_SECRET = ("define it in a vault file of the inventory "
                  "(ansible-vault create <inventory>/group_vars/<group>/vault.yml)")


@dataclass(frozen=True)
class Finding:
    """One problem: the hosts it is on, what found it (a role or a cross-host rule), the message."""

    hosts: tuple[str, ...]
    source: str
    message: str

    def as_dict(self) -> dict:
        return {"hosts": list(self.hosts), "source": self.source, "message": self.message}


@dataclass(frozen=True)
class Result:
    findings: tuple[Finding, ...]
    hosts: int
    checks: int
    host_side: int  # checks left to the host (no cached facts, a file on the host)
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.findings


# --------------------------------------------------------------------------------------------
# The controller side: start the child, read its answer, format it.


def validate(root: Path, inventory: Path, playbook: Path, *, vault_password_file: Path | None = None,
             extra_vars_files: tuple[Path, ...] = (), limit: str | None = None,
             fact_cache: Path | None = None) -> Result:
    """Run the checks in a child process; raises BadInputError when they cannot run at all."""
    return start(root, inventory, playbook, vault_password_file=vault_password_file,
                 extra_vars_files=extra_vars_files, limit=limit, fact_cache=fact_cache).result()


class Pending:
    """The checks running in their child process; ``result()`` waits for them."""

    def __init__(self, proc: subprocess.Popen, inventory: Path) -> None:
        self._proc = proc
        self._inventory = inventory
        self._started = time.monotonic()
        self._result: Result | None = None
        self._error: BadInputError | None = None

    def result(self) -> Result:
        """The checks' result; raises BadInputError when they could not run at all."""
        if self._result is None and self._error is None:
            try:
                stdout, stderr = self._proc.communicate()
            except BaseException:  # Ctrl-C while waiting: the child goes too
                self.stop()
                raise
            self._read(stdout, stderr)
        if self._error is not None:
            raise self._error
        return self._result

    def stop(self) -> None:
        """End the checks (from any thread): a waiting ``result()`` returns at once."""
        if self._proc.poll() is None:
            self._proc.kill()

    def _read(self, stdout: str, stderr: str) -> None:
        try:
            answer = json.loads(stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            detail = (stderr.strip() or stdout.strip())[-2000:]
            self._error = BadInputError(f"the offline checks could not run on {self._inventory}: {detail}")
            return
        if "error" in answer:
            self._error = BadInputError(f"inventory {self._inventory}: {answer['error']}")
            return
        self._result = Result(
            findings=tuple(Finding(tuple(f["hosts"]), f["source"], f["message"]) for f in answer["findings"]),
            hosts=answer["hosts"], checks=answer["checks"], host_side=answer["host_side"],
            seconds=time.monotonic() - self._started,
        )


def start(root: Path, inventory: Path, playbook: Path, *, vault_password_file: Path | None = None,
          extra_vars_files: tuple[Path, ...] = (), limit: str | None = None,
          fact_cache: Path | None = None) -> Pending:
    """Start the checks in a child process and return at once (a run starts Ansible meanwhile)."""
    args = [sys.executable, "-m", "bizractl.validate", "--inventory", str(inventory), "--playbook", str(playbook)]
    if vault_password_file:
        args += ["--vault-password-file", str(vault_password_file)]
    for path in extra_vars_files:
        args += ["--extra-vars-file", str(path)]
    if limit:
        args += ["--limit", limit]
    env = dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_PATTERN_MISMATCH="ignore",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    if fact_cache is not None:
        # Facts of any age: the checks need what changes rarely (OS family, memory, CPUs), and the
        # role checks again on the host with fresh facts.
        env.update(ANSIBLE_CACHE_PLUGIN_CONNECTION=str(fact_cache), ANSIBLE_CACHE_PLUGIN_TIMEOUT="0")
    proc = subprocess.Popen(args, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return Pending(proc, inventory)


def grouped(findings) -> list[Finding]:
    """A problem many hosts share (the same message but for the host's name) once, with its hosts."""
    from bizractl.report import same_but_for_the_host, shared_text, without_host

    merged = []
    for groups, first in same_but_for_the_host(
            findings, lambda f: f.hosts, lambda f, h: (f.source, without_host(f.message, h[0]) if len(h) == 1 else f)):
        names = tuple(sorted({name for hosts in groups for name in hosts}))
        merged.append(Finding(names, first.source, shared_text(groups, first.message, first.hosts[0])))
    return merged


def format_findings(result: Result, inventory: Path) -> str:
    """All problems at once, each naming its host(s) and what found it."""
    problems = grouped(result.findings)
    lines = [f"inventory {inventory}: {len(problems)} problem(s) found before any host was contacted:"]
    for finding in problems:
        lines.append(f"  - {', '.join(finding.hosts)} [{finding.source}]: {finding.message}")
    lines.append("Nothing was run. Fix these (or pass --no-validate to skip the offline checks).")
    return "\n".join(lines)


def summary(result: Result, inventory: Path) -> str:
    left = f"; {result.host_side} left to the hosts (facts not cached yet)" if result.host_side else ""
    return (f"inventory {inventory.name}: {result.hosts} hosts, {result.checks} checks passed "
            f"in {result.seconds:.1f} s{left}")


# --------------------------------------------------------------------------------------------
# The child side: Ansible's loader, inventory, variable manager and templar.


def _memoize_template_compilation() -> None:
    """Compile each template source once in this process.

    A role's rules are the same templates on every host, and ansible-core 2.19 compiles a
    template's source anew on every render: without this, compiling was about 60 % of the checks'
    time on the production inventory. Only this child process is changed; if Ansible's internals
    move, the checks run uncached (slower, same result).
    """
    try:
        import jinja2
        from ansible._internal._templating._jinja_bits import _TemplateCompileContext
    except ImportError:  # pragma: no cover - another ansible-core
        return
    original = jinja2.Environment.compile
    compiled: dict = {}

    def compile_once(self, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or not isinstance(source, str):
            return original(self, source, name, filename, raw, defer_init)
        context = _TemplateCompileContext.current(optional=True)
        key = (str(source), name, filename, defer_init, type(self), self.block_start_string,
               self.variable_start_string, self.comment_start_string,
               bool(context and context.escape_backslashes))
        if key not in compiled:
            compiled[key] = original(self, source, name, filename, raw, defer_init)
        return compiled[key]

    jinja2.Environment.compile = compile_once


class _Checker:
    def __init__(self, inventory: str, playbook: str, vault_password_file: str | None,
                 extra_vars_files: list[str], limit: str | None) -> None:
        from ansible import constants as C
        from ansible import context
        from ansible.module_utils.common.collections import ImmutableDict
        from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

        _AnsibleCollectionFinder(C.COLLECTIONS_PATHS, C.COLLECTIONS_SCAN_SYS_PATH)._install()
        _memoize_template_compilation()
        context.CLIARGS = ImmutableDict(
            extra_vars=tuple(f"@{path}" for path in extra_vars_files), tags=(), skip_tags=(),
            check=False, diff=False, syntax=False, start_at_task=None, listhosts=False,
            listtasks=False, listtags=False, subset=limit,
        )
        from ansible.cli import CLI
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        self.loader = DataLoader()
        # The given file, else what Ansible's configuration names (ANSIBLE_VAULT_PASSWORD_FILE).
        secrets = CLI.setup_vault_secrets(self.loader, vault_ids=list(C.DEFAULT_VAULT_IDENTITY_LIST),
                                          vault_password_files=[vault_password_file] if vault_password_file else [],
                                          auto_prompt=False)
        self.loader.set_vault_secrets(secrets)
        self.inventory = InventoryManager(loader=self.loader, sources=[inventory])
        self.variables = VariableManager(loader=self.loader, inventory=self.inventory)
        # What the task queue manager sets for a run: `hostvars` in templates (cross-host checks).
        from ansible.vars.hostvars import HostVars

        self.variables._hostvars = HostVars(inventory=self.inventory, variable_manager=self.variables,
                                            loader=self.loader)
        self._plain_vars: dict[str, dict] = {}
        self.playbook = playbook
        self.limited = ({host.name for host in self.inventory.get_hosts(limit)} if limit else None)
        self.findings: list[Finding] = []
        self.checks = 0
        self.host_side = 0
        self._role_files: dict[tuple[str, str], object] = {}
        self._vault_reported: set[tuple[str, str]] = set()
        self._undefined_reported: set[tuple[str, str, str]] = set()

    # ---- files of a role, loaded once, trusted as templates as Ansible does for role files
    def role_file(self, role_path: str, relative: str):
        key = (role_path, relative)
        if key not in self._role_files:
            path = os.path.join(role_path, relative)
            self._role_files[key] = (self.loader.load_from_file(path, trusted_as_template=True)
                                     if os.path.exists(path) else None)
        return self._role_files[key]

    def add(self, hosts, source: str, message: str) -> None:
        hosts = tuple(sorted(hosts))
        if self.limited is not None and not self.limited.intersection(hosts):
            return
        self.findings.append(Finding(hosts, source, message))

    # ---- what the playbook runs where
    def plays(self, path: str):
        """The plays of a playbook file, import_playbook followed, read as data (not Ansible's
        Playbook objects: loading every role's task tree cost three seconds and is not needed)."""
        for entry in self.loader.load_from_file(path, trusted_as_template=True) or []:
            imported = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
            if imported:
                yield from self.plays(os.path.join(os.path.dirname(path), str(imported)))
            elif "hosts" in entry:
                yield entry

    @staticmethod
    def role_calls(play: dict):
        """(role name, call parameters, when, loop variables) of the roles a play runs for their input."""
        for role in play.get("roles") or []:
            if isinstance(role, str):
                yield role, {}, [], None
                continue
            name = role.get("role") or role.get("name")
            params = {k: v for k, v in role.items() if k not in _ROLE_KEYWORDS}
            params.update(role.get("vars") or {})
            yield name, params, _as_list(role.get("when")), None
        for task in play.get("tasks") or []:
            args = task.get("ansible.builtin.include_role") or task.get("include_role")
            if not isinstance(args, dict) or args.get("tasks_from") not in _CHECKING_ENTRY_POINTS:
                continue
            loop_var = (task.get("loop_control") or {}).get("loop_var", "item")
            items = task.get("loop") if isinstance(task.get("loop"), list) else [None]
            for item in items:
                yield (args["name"], dict(task.get("vars") or {}), _as_list(task.get("when")),
                       {loop_var: item} if item is not None else None)

    def role_runs(self):
        """(host, role, role path, variables, call parameters) for every role that checks input."""
        from ansible.template import Templar

        seen = set()
        globals_ = self.variables.get_vars()
        for play in self.plays(self.playbook):
            try:
                pattern = Templar(loader=self.loader, variables=globals_).template(play["hosts"])
            except Exception:  # a pattern from -e that is not given: ansible-playbook says so
                continue
            hosts = self.inventory.get_hosts(pattern)
            calls = list(self.role_calls(play))
            if not calls:
                continue
            names = [h.name for h in hosts]
            magic = {"ansible_play_hosts": names, "ansible_play_hosts_all": names, "ansible_play_batch": names,
                     "play_hosts": names, **(play.get("vars") or {})}
            for host in hosts:
                if self.limited is not None and host.name not in self.limited:
                    continue  # its findings would not be reported: not worth evaluating
                for name, params, when, loop in calls:
                    variables = dict(self.plain_vars(host))
                    variables.update(magic)
                    if loop:
                        variables.update(loop)
                    templar = Templar(loader=self.loader, variables=variables)
                    short = templar.template(name).split(".")[-1]
                    if short in _SHARED_ROLES or (host.name, short) in seen:
                        continue
                    if when and not all(templar.evaluate_conditional(c) for c in when):
                        continue
                    seen.add((host.name, short))
                    yield host, short, os.path.join("roles", short), variables, params

    def plain_vars(self, host) -> dict:
        """A host's variables (inventory, facts from the cache, magic variables), once per host."""
        if host.name not in self._plain_vars:
            self._plain_vars[host.name] = self.variables.get_vars(host=host)
        return self._plain_vars[host.name]

    # ---- one role on one host
    def check_role(self, host, role: str, role_path: str, host_variables: dict, params: dict) -> None:
        from ansible.template import Templar

        variables = dict(self.role_file(role_path, "defaults/main.yml") or {})
        variables.update(host_variables)
        variables.update(self.role_file(role_path, "vars/main.yml") or {})
        variables.update(params)
        templar = Templar(loader=self.loader, variables=variables)
        self.check_spec(host.name, role, role_path, templar, variables)
        for task in self.assert_tasks(role_path, "tasks/validate.yml"):
            self.check_assert(host.name, role, task, variables)

    def check_spec(self, host: str, role: str, role_path: str, templar, variables: dict) -> None:
        from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

        specs = self.role_file(role_path, "meta/argument_specs.yml") or {}
        options = ((specs.get("argument_specs") or {}).get("main") or {}).get("options") or {}
        if not options:
            return
        self.checks += 1
        values, broken = {}, set()
        for name in options:
            if name not in variables:
                continue
            try:
                values[name] = templar.template(variables[name])
            except Exception as error:  # classified and reported, never raised
                broken.add(name)
                if not self.missing_secrets(host, role, name, variables[name], variables):
                    self.undefined(host, role, error, f"{name}: ")
        # A value that did not template is reported above, not again as missing.
        options = {name: dict(spec, required=False) if name in broken else spec for name, spec in options.items()}
        result = ArgumentSpecValidator(options).validate(values)
        for message in result.error_messages:
            self.add([host], role, f"argument spec: {message}")

    def assert_tasks(self, role_path: str, relative: str):
        """The assert tasks of a task file, with its blocks and static imports followed."""
        for task in self.role_file(role_path, relative) or []:
            if "block" in task:
                yield from self._asserts_in(role_path, task["block"])
                continue
            yield from self._asserts_in(role_path, [task])

    def _asserts_in(self, role_path: str, tasks):
        for task in tasks:
            for key in ("ansible.builtin.import_tasks", "import_tasks"):
                if key in task and "{{" not in str(task[key]):
                    yield from self.assert_tasks(role_path, os.path.join("tasks", str(task[key])))
            for key in ("ansible.builtin.assert", "assert"):
                if key in task:
                    yield task

    def check_assert(self, host: str, role: str, task: dict, variables: dict) -> None:
        from ansible.template import Templar

        args = task.get("ansible.builtin.assert") or task.get("assert")
        task_vars = dict(variables)
        task_vars.update(task.get("vars") or {})
        templar = Templar(loader=self.loader, variables=task_vars)
        that = args["that"] if isinstance(args["that"], list) else [args["that"]]
        when = task.get("when")
        when = [] if when is None else (when if isinstance(when, list) else [when])
        self.checks += 1
        try:
            if not all(templar.evaluate_conditional(c) for c in when):
                return
            if all(templar.evaluate_conditional(c) for c in that):
                return
            message = templar.template(args.get("fail_msg") or args.get("msg") or f"{task.get('name')}: failed")
        except Exception as error:  # classified and reported, never raised
            self.undefined(host, role, error, "")
            return
        self.add([host], role, str(message))

    def missing_secrets(self, host: str, role: str, name: str, raw, variables: dict) -> bool:
        """Every undefined vault_* variable a value refers to, each with the entry that needs it."""
        entries = raw if isinstance(raw, list) else [raw]
        found = False
        for entry in entries:
            label = ""
            if isinstance(entry, dict):
                label = next((str(entry[k]) for k in ("name", "description", "address", "url") if entry.get(k)), "")
            for secret in sorted(set(_VAULT_REFERENCE.findall(str(entry)))):
                if secret in variables:
                    continue
                found = True
                self.secret_undefined(host, role, f"{name} ({label}) " if label else f"{name} ", secret)
        return found

    def secret_undefined(self, host: str, role: str, lead: str, secret: str) -> None:
        """An undefined vault_* variable, once per host, whichever check met it first."""
        if (host, secret) not in self._vault_reported:
            self._vault_reported.add((host, secret))
            self.add([host], role, f"{lead}needs the secret {secret}, which is undefined: {_DEFINE_SECRET}")

    def undefined(self, host: str, role: str, error: Exception, prefix: str) -> bool:
        """Report an error met while templating; False when the check is the host's to make."""
        text = str(error)
        match = _UNDEFINED_NAME.search(text)
        if match and _VAULT_VARIABLE.match(match.group(1)):
            self.secret_undefined(host, role, prefix, match.group(1))
            return True
        if (match and match.group(1).startswith(("ansible_", "__"))) or "has no attribute" in text \
                or "no vault secrets" in text.lower() or "vault" in type(error).__name__.lower():
            # Host facts not cached, a registered result, a vaulted value without its password.
            self.host_side += 1
            if os.environ.get("BIZRA_VALIDATE_DEBUG"):
                print(f"left to {host} [{role}] {prefix}{text.splitlines()[0]}", file=sys.stderr)
            return False
        if match:
            if (host, role, match.group(1)) in self._undefined_reported:
                return True
            self._undefined_reported.add((host, role, match.group(1)))
        self.add([host], role, f"{prefix}{text.splitlines()[0].removeprefix('Error while evaluating conditional: ')}")
        return True

    # ---- everything
    def run(self) -> dict:
        checked_hosts = set()
        for host, role, role_path, variables, params in self.role_runs():
            checked_hosts.add(host.name)
            self.check_role(host, role, role_path, variables, params)
        for rule in CROSS_HOST_RULES:
            self.checks += 1
            for hosts, message in rule(self):
                self.add(hosts, f"rule {rule.__name__.lstrip('_')}", message)
        return {"findings": [f.as_dict() for f in self.findings], "hosts": len(checked_hosts),
                "checks": self.checks, "host_side": self.host_side}

    # ---- helpers for the cross-host rules
    def templated(self, host, name: str, default=None):
        from ansible.template import Templar

        variables = self.plain_vars(host)
        if name not in variables:
            return default
        try:
            return Templar(loader=self.loader, variables=variables).template(variables[name])
        except Exception:  # the role checks report a broken value
            return default


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------------------------
# Rules across hosts: each yields (hosts, message).


def _duplicate_addresses(checker: _Checker):
    """Two hosts at one address and port: one of them would be configured twice, the other never."""
    owners = defaultdict(list)
    for host in checker.inventory.get_hosts("all"):
        address = checker.templated(host, "ansible_host", host.name)
        port = checker.templated(host, "ansible_port", 22)
        owners[(str(address), str(port))].append(host.name)
    for (address, port), hosts in owners.items():
        if len(hosts) > 1:
            yield hosts, f"ansible_host {address} (port {port}) is given to {len(hosts)} hosts: each host needs its own"


def _duplicate_disk_serials(checker: _Checker):
    """A disk serial in two arrays (on one host or two) would be claimed by both."""
    owners = defaultdict(list)
    for host in checker.inventory.get_hosts("all"):
        for array in checker.templated(host, "storage_arrays", []) or []:
            if not isinstance(array, dict):
                continue
            for disk in array.get("disks") or []:
                owners[str(disk)].append((host.name, str(array.get("name"))))
    for disk, users in owners.items():
        if len(users) > 1:
            where = ", ".join(f"{host}:{array}" for host, array in users)
            yield sorted({host for host, _ in users}), f"disk serial {disk} is listed in {len(users)} arrays ({where})"


# Rules across hosts that no role sees from one host. The rest lives in the roles' own checks, which
# see the other hosts through hostvars (two primaries, more synchronous standbys than standbys, a
# router id used twice, firewall sources or BGP neighbours that resolve to nothing).
CROSS_HOST_RULES = (_duplicate_addresses, _duplicate_disk_serials)


def _child(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bizractl.validate")
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--playbook", required=True)
    parser.add_argument("--vault-password-file")
    parser.add_argument("--extra-vars-file", action="append", default=[])
    parser.add_argument("--limit")
    args = parser.parse_args(argv)
    try:
        checker = _Checker(args.inventory, args.playbook, args.vault_password_file, args.extra_vars_file, args.limit)
        answer = checker.run()
    except Exception as error:  # a broken inventory is reported, not a traceback
        text = " ".join(str(error).split())
        if "vault password must be specified" in text or "no vault secrets" in text.lower():
            text = ("it holds vault-encrypted data and no vault password was given: pass --vault-password-file "
                    "(the same file deploy takes)")
        answer = {"error": text[:2000]}
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
