import base64
import shutil
import subprocess

import pytest

from plugins.plugin_utils.ssh_keys import ssh_public_key_error, ssh_public_key_errors

# molecule/base's bob key: a real Ed25519 public key.
BOB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob@example"


def field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def line(kind: str, *fields: bytes, comment: str = "x@y") -> str:
    return f"{kind} {base64.b64encode(b''.join(field(f) for f in fields)).decode()} {comment}"


RSA_2048 = line("ssh-rsa", b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xc1" * 256)
ECDSA_256 = line("ecdsa-sha2-nistp256", b"ecdsa-sha2-nistp256", b"nistp256", b"\x04" + b"\x11" * 64)
SK_ED25519 = line("sk-ssh-ed25519@openssh.com", b"sk-ssh-ed25519@openssh.com", b"\x22" * 32, b"ssh:")


@pytest.mark.parametrize("key", [BOB, BOB.rsplit(" ", 1)[0], RSA_2048, ECDSA_256, SK_ED25519])
def test_good_keys_pass(key):
    assert ssh_public_key_error(key) == ""


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="ssh-keygen not installed")
@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_keys_made_by_ssh_keygen_pass(tmp_path, kind):
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(tmp_path / "k")], check=True)
    assert ssh_public_key_error((tmp_path / "k.pub").read_text()) == ""


@pytest.mark.parametrize(("key", "reason"), [
    # a copy-paste cut at a multiple of 4 characters still decodes: its last field runs past the end
    (BOB[:60], "its key is cut short: a field runs past the end"),
    (BOB[:61], "its base64 key does not decode (cut short or damaged in a copy-paste?)"),
    ("not-a-key", "not '<type> <base64 key> [comment]'"),
    ("ssh-dss AAAAB3NzaC1kc3M= x", "key type 'ssh-dss' is not one of ssh-ed25519, ssh-rsa"),
    ("ssh-rsa " + BOB.split()[1], "the key inside is 'ssh-ed25519', not ssh-rsa"),
    (line("ssh-ed25519", b"ssh-ed25519"), "its key has 1 fields where ssh-ed25519 has 2 (cut short?)"),
    (line("ssh-ed25519", b"ssh-ed25519", b"\x01" * 31), "its Ed25519 key is 31 bytes, not 32"),
    (line("ssh-rsa", b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xc1" * 128),
     "its RSA modulus has 1024 bits, fewer than 2048"),
    (line("ecdsa-sha2-nistp256", b"ecdsa-sha2-nistp256", b"nistp384", b"\x04" + b"\x11" * 64),
     "its nistp256 point is not a valid uncompressed point of that curve"),
    (42, "not a key line but int"),
])
def test_bad_keys_are_named_with_the_reason(key, reason):
    assert ssh_public_key_error(key).startswith(reason)


def test_errors_name_the_owner_and_the_key():
    assert ssh_public_key_errors({"alice": [BOB, BOB[:60]], "bob": None}) == [
        "alice's key 2 (ssh-ed25519 AAAAC3NzaC1l...): its key is cut short: a field runs past the end"]
    assert ssh_public_key_errors(["junk", BOB]) == ["key 1 (junk...): not '<type> <base64 key> [comment]'"]
    assert ssh_public_key_errors([]) == []
