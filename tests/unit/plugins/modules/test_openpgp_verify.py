"""openpgp_verify's dearmoring: the key block gpgv reads, only the pinned key trusted."""

from __future__ import annotations

import subprocess

import pytest

from plugins.modules.openpgp_verify import dearmor


def make_key(home, name: str) -> str:
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--quiet"]
    subprocess.run([*gpg, "--passphrase", "", "--quick-gen-key", f"{name} <{name}@lab.bizra.invalid>", "ed25519",
                    "sign", "never"], check=True)
    return subprocess.run([*gpg, "--armor", "--export"], capture_output=True, text=True, check=True).stdout


def test_a_dearmored_key_verifies_its_signature_and_no_other(tmp_path):
    signer, other = make_key(tmp_path / "signer", "signer"), make_key(tmp_path / "other", "other")
    release = tmp_path / "geth.tar.gz"
    release.write_bytes(b"release")
    subprocess.run(["gpg", "--homedir", str(tmp_path / "signer"), "--batch", "--quiet", "--armor", "--detach-sign",
                    str(release)], check=True)

    def gpgv(key: str) -> int:
        ring = tmp_path / "ring.gpg"
        ring.write_bytes(dearmor(key))
        return subprocess.run(["gpgv", "--keyring", str(ring), f"{release}.asc", str(release)],
                              capture_output=True, check=False).returncode

    assert gpgv(signer) == 0
    assert gpgv(other) != 0
    with_headers = signer.replace("-----\n\n", "-----\nComment: pinned by the SRE team\n\n", 1)
    assert gpgv(with_headers) == 0


@pytest.mark.parametrize("text", ["", "not a key", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n"
                                  "-----END PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP SIGNATURE-----\n\nAA==\n"
                                  "-----END PGP SIGNATURE-----"])
def test_anything_but_a_public_key_block_is_refused(text):
    with pytest.raises(ValueError):
        dearmor(text)
