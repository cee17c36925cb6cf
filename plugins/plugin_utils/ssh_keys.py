"""OpenSSH public keys parsed, not pattern-matched: a key cut short in a copy-paste is caught.

The blob of ``<type> <base64> [comment]`` is the key in SSH wire format (RFC 4253 §6.6, RFC 5656,
OpenSSH's PROTOCOL.u2f): length-prefixed fields, the first repeating the type. A truncated or
damaged blob fails to decode, has a field that runs past its end, or lacks fields its type has.
"""

from __future__ import annotations

import base64
import binascii

# Fields of each key type's blob, the type name included.
KEY_FIELDS = {
    "ssh-ed25519": 2,  # type, 32-byte key
    "ssh-rsa": 3,  # type, e, n
    "ecdsa-sha2-nistp256": 3,  # type, curve, Q
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
    "sk-ssh-ed25519@openssh.com": 3,  # type, key, application
    "sk-ecdsa-sha2-nistp256@openssh.com": 4,  # type, curve, Q, application
}
ED25519_KEY_BYTES = 32
# Uncompressed curve points: 0x04, then two coordinates.
ECDSA_POINT_BYTES = {"nistp256": 65, "nistp384": 97, "nistp521": 133}
RSA_MIN_BITS = 2048


def _fields(raw: bytes) -> list[bytes] | None:
    fields, pos = [], 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            return None
        size = int.from_bytes(raw[pos:pos + 4], "big")
        pos += 4
        if pos + size > len(raw):
            return None
        fields.append(raw[pos:pos + size])
        pos += size
    return fields


def ssh_public_key_error(line) -> str:
    """Why ``line`` is not a usable OpenSSH public key line, or "" when it is one."""
    if not isinstance(line, str):
        return f"not a key line but {type(line).__name__}"
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        return "not '<type> <base64 key> [comment]'"
    kind, blob = parts[0], parts[1]
    if kind not in KEY_FIELDS:
        return f"key type {kind!r} is not one of {', '.join(KEY_FIELDS)}"
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "its base64 key does not decode (cut short or damaged in a copy-paste?)"
    fields = _fields(raw)
    if fields is None:
        return "its key is cut short: a field runs past the end"
    if not fields or fields[0] != kind.encode():
        inside = fields[0].decode(errors="replace") if fields else ""
        return f"the key inside is {inside!r}, not {kind}"
    if len(fields) != KEY_FIELDS[kind]:
        return f"its key has {len(fields)} fields where {kind} has {KEY_FIELDS[kind]} (cut short?)"
    if kind in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com") and len(fields[1]) != ED25519_KEY_BYTES:
        return f"its Ed25519 key is {len(fields[1])} bytes, not {ED25519_KEY_BYTES}"
    if kind == "ssh-rsa":
        bits = int.from_bytes(fields[2], "big").bit_length()
        if bits < RSA_MIN_BITS:
            return f"its RSA modulus has {bits} bits, fewer than {RSA_MIN_BITS}"
    if kind.startswith(("ecdsa-", "sk-ecdsa-")):
        curve = kind.split("-")[-1].split("@")[0]
        if fields[1] != curve.encode() or len(fields[2]) != ECDSA_POINT_BYTES[curve] or fields[2][:1] != b"\x04":
            return f"its {curve} point is not a valid uncompressed point of that curve"
    return ""


def ssh_public_key_errors(keys) -> list[str]:
    """One message per bad key. ``keys``: a list of key lines, or owner -> list of key lines."""
    if isinstance(keys, dict):
        owned = [(f"{owner}'s key {number}", key) for owner, lines in keys.items()
                 for number, key in enumerate(lines or [], start=1)]
    else:
        owned = [(f"key {number}", key) for number, key in enumerate(keys or [], start=1)]
    errors = []
    for label, key in owned:
        reason = ssh_public_key_error(key)
        if reason:
            errors.append(f"{label} ({str(key)[:24]}...): {reason}")
    return errors
