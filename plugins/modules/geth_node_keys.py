#!/usr/bin/python
"""A geth node's two keys: its p2p node key (and so its enode id) and its engine API secret."""

from __future__ import annotations

DOCUMENTATION = r"""
module: geth_node_keys
short_description: Make a geth node's p2p node key and engine API JWT secret, and report its enode id
description:
  - The node key (C(<datadir>/geth/nodekey), the hex secp256k1 private key geth reads) is made once
    on the host from the operating system's random source, exactly as geth would make it at its
    first start; an existing key is kept. Making it before geth first starts lets every node of a
    group know the others' enode ids in the same run, so static peers are configured at once.
  - The engine API secret (32 bytes, hex) is either the value given (from Ansible Vault) or made
    once on the host; a file holding another value is replaced only with a given value.
  - With O(nodekey_path), returns the enode id (the uncompressed public key without its 04 prefix,
    128 hex digits) as the fact C(geth_enode_id). Neither secret is ever returned, logged or shown in a diff.
  - Files are written atomically with mode 0600 (node key, owner O(owner)) and 0640 (secret, group
    O(group)). Supports check mode.
options:
  nodekey_path:
    description: Path of the node key file (omitted, the node key is left alone).
    type: path
  jwt_path:
    description: Path of the engine API secret file (omitted, the secret is left alone).
    type: path
  jwt_secret:
    description: The secret as 64 hex digits (an optional 0x prefix). Empty makes one on the host once.
    type: str
    default: ""
  create:
    description:
      - Make what is missing. V(false) only reads an existing node key (a peer's, for its enode
        id) and changes nothing; a node without a key then returns no fact.
    type: bool
    default: true
  owner:
    description: User that owns the node key and the secret's group.
    type: str
    required: true
  group:
    description: Group that may read the secret (geth's).
    type: str
    required: true
author: bizra SRE
"""

EXAMPLES = r"""
- name: Make the node's keys
  bizra.infra.geth_node_keys:
    nodekey_path: /var/lib/geth/geth/nodekey
    jwt_path: /etc/geth/jwt.hex
    jwt_secret: "{{ vault_geth_jwt_secret | default('') }}"
    owner: geth
    group: geth
  no_log: true
"""

RETURN = r"""
ansible_facts:
  description: C(geth_enode_id), the node's public key (128 hex digits).
  type: dict
  returned: always
made:
  description: What was written in this run (C(nodekey), C(jwt)); nothing is said about the values.
  type: list
  returned: always
"""

import grp
import os
import pwd
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

# secp256k1 (SEC 2): y^2 = x^3 + 7 over F_p, base point G of order N. Only the public half of a
# key is computed here (a scalar multiplication, not a signature): what `geth` itself prints as
# its enode id. Written out because an air-gapped host may have no crypto package for Python.
P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)
HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0:
        return None
    if a == b:
        slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, P) % P
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (slope * slope - a[0] - b[0]) % P
    return x, (slope * (a[0] - x) - a[1]) % P


def public_id(private_key: int) -> str:
    """The enode id of a node key: X and Y of private_key * G, 32 bytes each, as hex."""
    result, addend = None, G
    while private_key:
        if private_key & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        private_key >>= 1
    return f"{result[0]:064x}{result[1]:064x}"


def new_private_key() -> int:
    while True:
        candidate = int.from_bytes(os.urandom(32), "big")
        if 0 < candidate < N:
            return candidate


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def _write(path: str, text: str, mode: int, uid: int, gid: int) -> None:
    directory = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".bizra-")
    try:
        os.fchmod(handle, mode)
        os.fchown(handle, uid, gid)
        os.write(handle, text.encode("ascii"))
        os.fsync(handle)
    finally:
        os.close(handle)
    os.replace(temporary, path)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "nodekey_path": {"type": "path"},
            "jwt_path": {"type": "path"},
            "jwt_secret": {"type": "str", "default": "", "no_log": True},
            "create": {"type": "bool", "default": True},
            "owner": {"type": "str", "required": True},
            "group": {"type": "str", "required": True},
        },
        required_one_of=[("nodekey_path", "jwt_path")],
        supports_check_mode=True,
    )
    params = module.params
    if not params["create"]:
        nodekey = _read(params["nodekey_path"]) if params["nodekey_path"] else None
        facts = {"geth_enode_id": public_id(int(nodekey.removeprefix("0x"), 16))} \
            if nodekey and HEX_KEY.match(nodekey) else {}
        module.exit_json(changed=False, made=[], ansible_facts=facts)
    given = params["jwt_secret"].strip()
    if given and not HEX_KEY.match(given):
        module.fail_json(msg="jwt_secret must be 64 hex digits (32 bytes), optionally prefixed 0x")
    try:
        uid = pwd.getpwnam(params["owner"]).pw_uid
        gid = grp.getgrnam(params["group"]).gr_gid
    except KeyError as error:
        if module.check_mode:  # the user that a real run creates first: everything would be made
            module.exit_json(changed=True, made=["nodekey", "jwt"], ansible_facts={})
        module.fail_json(msg=f"no such user or group on the host: {error}")

    made, facts = [], {}
    if params["nodekey_path"]:
        facts["geth_enode_id"] = public_id(_node_key(module, params["nodekey_path"], uid, gid, made))
    if params["jwt_path"]:
        _jwt_secret(module, params["jwt_path"], given, gid, made)
    module.exit_json(changed=bool(made), made=made, ansible_facts=facts)


def _node_key(module: AnsibleModule, path: str, uid: int, gid: int, made: list) -> int:
    nodekey = _read(path)
    if nodekey is not None and not HEX_KEY.match(nodekey):
        module.fail_json(msg=f"{path} exists but is not a hex node key: move it away (it is this "
                             "node's p2p identity) and run again")
    if nodekey is not None:
        return int(nodekey.removeprefix("0x"), 16)
    private_key = new_private_key()
    made.append("nodekey")
    if not module.check_mode:
        _write(path, f"{private_key:064x}", 0o600, uid, gid)
    return private_key


def _jwt_secret(module: AnsibleModule, path: str, given: str, gid: int, made: list) -> None:
    current = _read(path)
    wanted = given.lower().removeprefix("0x") if given else None
    if current is None or (wanted is not None and current.lower().removeprefix("0x") != wanted):
        made.append("jwt")
        if not module.check_mode:
            _write(path, wanted or os.urandom(32).hex(), 0o640, 0, gid)
        return
    status = os.stat(path)
    if status.st_mode & 0o777 != 0o640 or status.st_gid != gid or status.st_uid != 0:
        made.append("jwt mode")
        if not module.check_mode:
            os.chmod(path, 0o640)
            os.chown(path, 0, gid)


if __name__ == "__main__":
    main()
