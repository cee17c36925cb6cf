#!/usr/bin/python
"""Verify a detached OpenPGP signature of a file with gpgv and one armored public key."""

from __future__ import annotations

DOCUMENTATION = r"""
module: openpgp_verify
short_description: Verify a release's detached OpenPGP signature against a pinned public key
description:
  - Runs C(gpgv) (on every Debian host, apt needs it) with a keyring holding only the given key,
    so a signature by any other key fails, whatever the host's own keyrings trust.
  - Read-only; supports check mode (where a file not downloaded yet is not an error). Fails naming
    the file when the signature does not verify.
options:
  path:
    description: The signed file.
    type: path
    required: true
  signature:
    description: The detached signature (armored or binary).
    type: path
    required: true
  key:
    description: The signer's public key, ASCII-armored (C(-----BEGIN PGP PUBLIC KEY BLOCK-----)).
    type: str
    required: true
author: bizra SRE
"""

EXAMPLES = r"""
- name: Verify the release's signature
  bizra.infra.openpgp_verify:
    path: /var/cache/bizra/geth-linux-amd64-1.17.10-1234abcd.tar.gz
    signature: /var/cache/bizra/geth-linux-amd64-1.17.10-1234abcd.tar.gz.asc
    key: "{{ geth_release_signing_key }}"
"""

RETURN = r"""
fingerprint:
  description: Fingerprint of the key that made the good signature.
  type: str
  returned: success
"""

import base64
import binascii
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def dearmor(text: str) -> bytes:
    """The binary key packets of an ASCII-armored public key block (RFC 4880 section 6)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    begin, end = "-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----END PGP PUBLIC KEY BLOCK-----"
    if not lines or lines[0] != begin or end not in lines:
        raise ValueError("not an ASCII-armored OpenPGP public key block")
    body = lines[1:lines.index(end)]
    if "" in body:  # armor headers (Comment:, Version:) end at the first blank line
        body = body[body.index("") + 1:]
    data = "".join(line for line in body if line and not line.startswith("="))
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as error:
        raise ValueError(f"the key block is not valid base64: {error}") from error


def main() -> None:
    module = AnsibleModule(argument_spec={
        "path": {"type": "path", "required": True},
        "signature": {"type": "path", "required": True},
        "key": {"type": "str", "required": True, "no_log": False},
    }, supports_check_mode=True)
    path, signature = module.params["path"], module.params["signature"]
    try:
        keyring = dearmor(module.params["key"])
    except ValueError as error:
        module.fail_json(msg=f"openpgp_verify: the signing key is unusable: {error}")
    for name in (path, signature):
        if not os.path.isfile(name):
            if module.check_mode:  # not downloaded in check mode: nothing to verify yet
                module.exit_json(changed=False, skipped=True, msg=f"{name} is not there yet (check mode)")
            module.fail_json(msg=f"openpgp_verify: {name} does not exist")
    with tempfile.TemporaryDirectory(prefix="bizra-gpgv-") as work:
        ring = os.path.join(work, "signer.gpg")
        with open(ring, "wb") as handle:
            handle.write(keyring)
        rc, out, err = module.run_command(["gpgv", "--status-fd", "1", "--keyring", ring, signature, path])
    valid = [line.split()[2] for line in out.splitlines() if line.startswith("[GNUPG:] VALIDSIG ")]
    if rc != 0 or not valid:
        reason = " ".join(line for line in err.splitlines() if line.startswith("gpgv:")) or err.strip()
        module.fail_json(msg=f"openpgp_verify: the signature {signature} of {path} does not verify with the "
                             f"pinned key: {reason}")
    module.exit_json(changed=False, fingerprint=valid[0])


if __name__ == "__main__":
    main()
