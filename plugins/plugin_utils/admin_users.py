"""Whether the base role's admin users are as declared, from the role's probe of the host.

The comparison is the one the modules make (ansible.builtin.user, ansible.posix.authorized_key
with exclusive=true), or stricter: where this cannot tell, the user counts as drifted and the
modules run and decide.
"""

from __future__ import annotations

import hashlib

from .ssh_keys import KEY_FIELDS


def authorized_keys_text(keys) -> str | None:
    """The authorized_keys file authorized_key (exclusive) writes for plain key lines: "type key
    comment" each, its comment possibly empty. None for a line with options or quotes, or a key
    listed twice, which the module writes in its own way."""
    lines, blobs = [], set()
    for raw in keys or []:
        parts = str(raw).split()
        if len(parts) < 2 or '"' in str(raw) or parts[0] not in KEY_FIELDS or parts[1] in blobs:
            return None
        blobs.add(parts[1])
        lines.append(f"{parts[0]} {parts[1]} {' '.join(parts[2:])}\n")
    return "".join(lines)


def admin_users_drift(users, state) -> list[str]:
    """Names of the users the user or authorized_key step would change.

    ``state`` is the probe's mapping: ``user:<name>`` the passwd entry (empty when there is none),
    ``groups:<name>`` the groups that list the user as a member, ``keys:<name>`` the SHA-256 of
    ~/.ssh/authorized_keys (of nothing when it is missing).
    """
    drifted = []
    for user in users or []:
        name = user["name"]
        entry = state.get(f"user:{name}")
        if user.get("state", "present") == "absent":
            if entry != "":
                drifted.append(name)
            continue
        fields = (entry or "").split(":")
        keys = authorized_keys_text(user.get("ssh_keys"))
        same = (
            len(fields) == 7
            and fields[6] == user.get("shell", "/bin/bash")
            and ("comment" not in user or fields[4] == user["comment"])
            and f"groups:{name}" in state
            and sorted(state[f"groups:{name}"].split()) == sorted(user.get("groups") or [])
            and keys is not None
            and state.get(f"keys:{name}") == hashlib.sha256(keys.encode()).hexdigest()
        )
        if not same:
            drifted.append(name)
    return drifted
