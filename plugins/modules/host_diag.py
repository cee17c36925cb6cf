#!/usr/bin/python
"""Build a host's diagnostics bundle (owner-only tar.gz on the host), secrets redacted there."""

from __future__ import annotations

DOCUMENTATION = r"""
module: host_diag
short_description: Build a diagnostics bundle on the host, secrets redacted before they leave it
description:
  - "Writes C(dest), a gzip tar with mode 0600: services.txt (the fleet's units and every failed unit),
    journal/<unit>.log (the last C(journal_lines) lines of each fleet unit that exists, and of
    priority err and worse), versions.txt (kernel, OS, the fleet's binaries), configs/<path> (the
    fleet's configuration files that exist) and state.txt (/proc/mdstat, listening sockets, the firewall)."
  - "Every text is redacted on the host: values after password, secret, token, pin, key, cipher-pass,
    routing key and authorization words (C(key = value), C(key: value), C(key=value) in connection
    strings, FRR's C(password X)), and PEM private key blocks. The module returns no content, only
    the bundle's path and what it holds, so nothing reaches Ansible's output or logs."
  - Read-only apart from the bundle; reports C(changed) when it writes one.
options:
  dest:
    description: Path of the bundle on the host.
    type: path
    required: true
  journal_lines:
    description: Journal lines per unit.
    type: int
    default: 300
author: bizra SRE
"""

EXAMPLES = r"""
- name: Build the bundle
  bizra.infra.host_diag:
    dest: /var/tmp/bizra-diag.tar.gz
"""

RETURN = r"""
files:
  description: Names inside the bundle.
  type: list
  returned: always
"""

import glob
import io
import os
import re
import shutil
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule

UNIT_PATTERNS = ["frr.service", "geth.service", "haproxy.service", "postgresql@*.service", "pgbackrest*.service",
                 "prometheus*.service", "influxd*.service", "*-signer.service", "chrony.service", "ssh.service",
                 "sshd.service", "nftables.service", "mdmonitor.service"]
CONFIG_GLOBS = [
    "/etc/frr/frr.conf", "/etc/frr/daemons", "/etc/geth/*.toml", "/etc/haproxy/haproxy.cfg",
    "/etc/postgresql/*/*/postgresql.conf", "/etc/postgresql/*/*/conf.d/*.conf", "/etc/postgresql/*/*/pg_hba.conf",
    "/var/lib/postgresql/*/*/postgresql.auto.conf", "/etc/pgbackrest/pgbackrest.conf", "/etc/pgbackrest/conf.d/*",
    "/etc/prometheus/*.yml", "/etc/prometheus/rules/*", "/etc/influxdb/*.conf", "/etc/nftables.conf",
    "/etc/bizra/firewall.d/*.json", "/etc/bizra/selinux.d/*.json", "/etc/chrony/chrony.conf",
    "/etc/chrony/conf.d/*", "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/*", "/etc/mdadm/mdadm.conf",
    "/etc/fstab", "/etc/sysctl.d/*.conf", "/etc/Chrystoki.conf", "/etc/systemd/system/*.service",
    "/etc/systemd/system/*.service.d/*.conf",
]
VERSION_COMMANDS = [["uname", "-a"], ["cat", "/etc/os-release"], ["geth", "version"], ["postgres", "--version"],
                    ["psql", "--version"], ["vtysh", "-c", "show version"], ["haproxy", "-v"],
                    ["prometheus", "--version"], ["influxd", "version"], ["nft", "--version"], ["mdadm", "--version"]]
STATE_COMMANDS = [["cat", "/proc/mdstat"], ["ss", "-tlnp"], ["nft", "list", "ruleset"], ["df", "-h"],
                  ["systemctl", "list-units", "--failed", "--no-legend", "--plain"]]

_SECRET_WORD = r"(?:password|passwd|passphrase|secret|token|pin|api[-_]?key|routing[-_]?key|private[-_]?key|" \
               r"cipher[-_]pass|authorization|auth[-_]?key|jwt)"
_PATTERNS = [
    # PEM private keys, whole blocks
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
     "<redacted private key>"),
    # HTTP authorization (a scheme and its credentials): the rest of the line
    (re.compile(r"(\bauthorization\b[\"']?\s*[=:]\s*)[^\n]*", re.I), r"\1<redacted>"),
    # FRR: neighbor X password Y
    (re.compile(r"(\bpassword\s+)(\S+)", re.I), r"\1<redacted>"),
    # key = value, key: value, key=value (also inside connection strings and JSON)
    (re.compile(rf"(\b[\w.-]*{_SECRET_WORD}[\w.-]*\b[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;'\"]+)", re.I),
     r"\1<redacted>"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _run(module, args, limit=200_000):
    if not shutil.which(args[0]):
        return None
    rc, out, err = module.run_command(args)
    text = (out or "") + (f"\n[stderr]\n{err}" if err and err.strip() else "") + ("" if rc == 0 else f"\n[rc {rc}]")
    return text[-limit:]


def _units(module):
    if not shutil.which("systemctl"):
        return []
    _, out, _ = module.run_command(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--full",
                                    "--type=service", "--", *UNIT_PATTERNS])
    return [line.split()[0] for line in out.splitlines() if len(line.split()) > 1 and line.split()[1] == "loaded"]


def main():
    module = AnsibleModule(
        argument_spec={"dest": {"type": "path", "required": True},
                       "journal_lines": {"type": "int", "default": 300}},
        supports_check_mode=True,
    )
    if module.check_mode:
        module.exit_json(changed=False, files=[])
    entries: dict[str, str] = {}
    units = _units(module)
    entries["services.txt"] = "\n\n".join(
        filter(None, [_run(module, ["systemctl", "status", "--no-pager", "--full", "--lines=0", u]) for u in units]
               + [_run(module, ["systemctl", "list-units", "--failed", "--no-legend", "--plain"])]))
    lines = str(module.params["journal_lines"])
    if shutil.which("journalctl"):
        for unit in units:
            entries[f"journal/{unit}.log"] = _run(module, ["journalctl", "--no-pager", "-o", "short-iso", "-n", lines,
                                                           "-u", unit]) or ""
        entries["journal/errors.log"] = _run(module, ["journalctl", "--no-pager", "-o", "short-iso", "-p", "err",
                                                      "-n", lines]) or ""
    entries["versions.txt"] = "\n".join(f"$ {' '.join(c)}\n{out}" for c in VERSION_COMMANDS
                                        if (out := _run(module, c)) is not None)
    entries["state.txt"] = "\n".join(f"$ {' '.join(c)}\n{out}" for c in STATE_COMMANDS
                                     if (out := _run(module, c)) is not None)
    for pattern in CONFIG_GLOBS:
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path) and os.path.getsize(path) < 1_000_000:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    entries["configs" + path] = handle.read()
    dest = module.params["dest"]
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    descriptor = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as bundle:
        now = time.time()
        for name, text in entries.items():
            data = redact(text).encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, now
            bundle.addfile(info, io.BytesIO(data))
    module.exit_json(changed=True, dest=dest, files=sorted(entries))


if __name__ == "__main__":
    main()
