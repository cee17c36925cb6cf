#!/usr/bin/python3
"""TEST-ONLY signing service, never shipped: what a real signing service does through the
hsm_client role's plumbing, run as its unit (lab-signer.service) with the role's drop-in:
PKCS11_MODULE and PKCS11_TOKEN_LABEL from the environment file, the PIN from the file named by
HSM_PIN_FILE. It signs <state>/message with the key --key inside the token (ECDSA over
SHA-256), verifies the signature through the token too, and records what it found about the
private key (sensitive, extractable, whether its value can be read) in <state>/result.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import PyKCS11
from PyKCS11 import LowLevel as P


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--state", required=True, type=Path)
    args = parser.parse_args()
    pin = Path(os.environ["HSM_PIN_FILE"]).read_text()
    library = PyKCS11.PyKCS11Lib()
    library.load(os.environ["PKCS11_MODULE"])
    label = os.environ["PKCS11_TOKEN_LABEL"]
    slot = next(s for s in library.getSlotList(tokenPresent=True)
                if library.getTokenInfo(s).label.rstrip(" \x00") == label)
    session = library.openSession(slot)
    session.login(pin)
    private = session.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_LABEL, args.key)])[0]
    public = session.findObjects([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_LABEL, args.key)])[0]
    digest = hashlib.sha256((args.state / "message").read_bytes()).digest()
    signature = bytes(session.sign(private, digest, PyKCS11.Mechanism(P.CKM_ECDSA)))
    verified = session.verify(public, digest, signature, PyKCS11.Mechanism(P.CKM_ECDSA))
    sensitive, extractable = session.getAttributeValue(private, [P.CKA_SENSITIVE, P.CKA_EXTRACTABLE])
    try:  # PyKCS11 answers None for an attribute the token refuses to reveal
        value = session.getAttributeValue(private, [P.CKA_VALUE], allAsBinary=True)[0]
        value_read = "refused" if value is None else "read"
    except PyKCS11.PyKCS11Error as error:
        value_read = f"refused: {error}"
    point = bytes(session.getAttributeValue(public, [P.CKA_EC_POINT])[0])
    result = {"token": label, "serial": library.getTokenInfo(slot).serialNumber.strip(),
              "public": point.hex(), "signature": signature.hex(), "verified_by_token": bool(verified),
              "sensitive": bool(sensitive), "extractable": bool(extractable), "value_read": value_read}
    (args.state / "result.json").write_text(json.dumps(result))
    session.logout()
    session.closeSession()


if __name__ == "__main__":
    main()
