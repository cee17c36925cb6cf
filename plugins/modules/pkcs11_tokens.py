#!/usr/bin/python
"""PKCS#11 tokens (HSM partitions) and the keys inside them, through the token's own library."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pkcs11_tokens
short_description: Check or make PKCS#11 tokens by label and generate keys inside them
description:
  - Talks to the token through its PKCS#11 library inside the module (PyKCS11), so no PIN is
    ever on a command line, in the process list or in output.
  - Each declared token is found by its label. With O(initialize), a missing one is initialised in
    a free slot (SoftHSM) with its SO PIN and its user PIN set; without it, a missing token is an
    error naming it (a Luna partition is made on the appliance, not by a client).
  - Each declared key is found by label; a missing one is generated inside the token (private
    half sensitive and not extractable). An existing key is checked and never replaced; a key of
    another type, or one that is extractable or not sensitive, fails naming token and key.
  - With O(owner), the token work runs in a child process that drops to that account (its groups
    included) before it loads the library, so the tokens it makes belong to that account
    (SoftHSM's token files belong to the process that makes them, mode 0600). Supports check mode.
options:
  library:
    description: Path of the PKCS#11 library.
    type: path
    required: true
  environment:
    description: Variables the library reads (e.g. C(SOFTHSM2_CONF), C(ChrystokiConfigurationPath)).
    type: dict
    default: {}
  owner:
    description: Account to act as (the module must run as root to switch); empty acts as itself.
    type: str
    default: ""
  initialize:
    description: Initialise a missing token in a free slot (SoftHSM); V(false) fails instead.
    type: bool
    default: false
  tokens:
    description: The tokens, each C(label) and C(keys), a list of C(label) and C(type) (V(secp256k1),
      V(prime256v1), V(rsa-2048), V(rsa-3072), V(rsa-4096), V(aes-128), V(aes-256)).
    type: list
    elements: dict
    required: true
  pins:
    description: Per token label, C(user_pin) and C(so_pin) (the SO PIN only to initialise a token).
      Never returned or logged.
    type: dict
    required: true
author: bizra SRE
"""

EXAMPLES = r"""
- name: Make the partitions' tokens and keys
  bizra.infra.pkcs11_tokens:
    library: /usr/lib/softhsm/libsofthsm2.so
    initialize: true
    tokens:
      - label: trading-operations
        keys: [{label: hot-wallet, type: secp256k1}]
    pins:
      trading-operations: {user_pin: "{{ vault_user_pin }}", so_pin: "{{ vault_so_pin }}"}
    owner: signer
  no_log: true
"""

RETURN = r"""
tokens:
  description: Per token its C(label), C(serial) and C(keys) (C(label), C(type), C(public),
    the public half in hex, which is the DER-encoded EC point or the RSA modulus, empty for a secret key).
  type: list
  returned: always
made:
  description: What this run made (C(token <label>), C(key <token>/<key>)).
  type: list
  returned: always
"""

import json
import os
import pwd

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import PyKCS11
    from PyKCS11 import LowLevel as P
except ImportError:  # reported by the module with the package to install
    PyKCS11 = None

# DER of each curve's OID, the CKA_EC_PARAMS the token is given.
CURVES = {
    "secp256k1": bytes.fromhex("06052b8104000a"),
    "prime256v1": bytes.fromhex("06082a8648ce3d030107"),
}
RSA_BITS = {"rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}
AES_BYTES = {"aes-128": 16, "aes-256": 32}
KEY_TYPES = sorted([*CURVES, *RSA_BITS, *AES_BYTES])


class TokenError(Exception):
    pass


def find_token(library, label):
    for slot in library.getSlotList(tokenPresent=True):
        info = library.getTokenInfo(slot)
        if info.flags & P.CKF_TOKEN_INITIALIZED and info.label.rstrip(" \x00") == label:
            return slot, info
    return None, None


def free_slot(library):
    for slot in library.getSlotList(tokenPresent=True):
        if not library.getTokenInfo(slot).flags & P.CKF_TOKEN_INITIALIZED:
            return slot
    raise TokenError("no free slot to initialise a token in")


def initialise(library, token: dict):
    # PKCS#11 labels are 32 bytes padded with blanks (PyKCS11 would pad with NULs).
    library.initToken(free_slot(library), token["so_pin"], token["label"].ljust(32))
    slot, _ = find_token(library, token["label"])  # SoftHSM moves a new token to a slot of its own
    session = library.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    try:
        session.login(token["so_pin"], user_type=P.CKU_SO)
        session.initPin(token["user_pin"])
        session.logout()
    finally:
        session.closeSession()


def key_kind(key_type: str) -> str:
    return "ec" if key_type in CURVES else "rsa" if key_type in RSA_BITS else "aes"


def find_key(session, label: str, key_type: str):
    """The key's private (or secret) object, or None."""
    object_class = P.CKO_SECRET_KEY if key_kind(key_type) == "aes" else P.CKO_PRIVATE_KEY
    found = session.findObjects([(P.CKA_CLASS, object_class), (P.CKA_LABEL, label)])
    return found[0] if found else None


def public_half(session, label: str, key_type: str) -> str:
    if key_kind(key_type) == "aes":
        return ""
    found = session.findObjects([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_LABEL, label)])
    if not found:
        return ""
    attribute = P.CKA_EC_POINT if key_kind(key_type) == "ec" else P.CKA_MODULUS
    return bytes(session.getAttributeValue(found[0], [attribute])[0]).hex()


def check_key(session, handle, token: str, label: str, key_type: str) -> None:
    """An existing key must be what is declared, sensitive and not extractable."""
    kind = key_kind(key_type)
    found_type, sensitive, extractable = session.getAttributeValue(
        handle, [P.CKA_KEY_TYPE, P.CKA_SENSITIVE, P.CKA_EXTRACTABLE])
    matches = found_type == {"ec": P.CKK_EC, "rsa": P.CKK_RSA, "aes": P.CKK_AES}[kind]
    if matches:  # ask for a type's own attribute only of a key of that type
        detail = session.getAttributeValue(
            handle, [{"ec": P.CKA_EC_PARAMS, "rsa": P.CKA_MODULUS, "aes": P.CKA_VALUE_LEN}[kind]])[0]
        matches = ((kind == "ec" and bytes(detail) == CURVES[key_type])
                   or (kind == "rsa" and len(bytes(detail)) * 8 == RSA_BITS[key_type])
                   or (kind == "aes" and detail == AES_BYTES[key_type]))
    if not matches:
        raise TokenError(f"token {token}: key {label} exists but is not a {key_type} key; a key is never "
                         "replaced by this role (retire it through the key ceremony first)")
    if not sensitive or extractable:
        raise TokenError(f"token {token}: key {label} is {'extractable' if extractable else 'not sensitive'}: "
                         "its private half can leave the token; retire it through the key ceremony")


def generate(session, label: str, key_type: str) -> None:
    identity = label.encode()
    private = [(P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_SENSITIVE, True),
               (P.CKA_EXTRACTABLE, False), (P.CKA_LABEL, label), (P.CKA_ID, identity)]
    public = [(P.CKA_TOKEN, True), (P.CKA_PRIVATE, False), (P.CKA_LABEL, label), (P.CKA_ID, identity)]
    kind = key_kind(key_type)
    if kind == "aes":
        session.generateKey(
            [(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_VALUE_LEN, AES_BYTES[key_type]),
             (P.CKA_ENCRYPT, True), (P.CKA_DECRYPT, True), *private],
            mecha=PyKCS11.MechanismAESGENERATEKEY)
    elif kind == "ec":
        session.generateKeyPair(
            [(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_KEY_TYPE, P.CKK_EC), (P.CKA_EC_PARAMS, CURVES[key_type]),
             (P.CKA_VERIFY, True), *public],
            [(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_KEY_TYPE, P.CKK_EC), (P.CKA_SIGN, True), *private],
            mecha=PyKCS11.MechanismECGENERATEKEYPAIR)
    else:
        session.generateKeyPair(
            [(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_KEY_TYPE, P.CKK_RSA), (P.CKA_MODULUS_BITS, RSA_BITS[key_type]),
             (P.CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01)), (P.CKA_VERIFY, True), (P.CKA_ENCRYPT, True), *public],
            [(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_KEY_TYPE, P.CKK_RSA), (P.CKA_SIGN, True),
             (P.CKA_DECRYPT, True), *private],
            mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)


def converge_token(library, token: dict, initialize: bool, check_mode: bool, made: list) -> dict:
    label = token["label"]
    slot, info = find_token(library, label)
    if slot is None:
        if not initialize:
            raise TokenError(f"token {label} is not visible through the library: the partition is not "
                             "assigned to this client (ask the HSM administrators) or its label differs")
        made.append(f"token {label}")
        if check_mode:
            return {"label": label, "serial": "",
                    "keys": [{"label": k["label"], "type": k["type"], "public": ""} for k in token["keys"]]}
        initialise(library, token)
        slot, info = find_token(library, label)
    session = library.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    try:
        try:
            session.login(token["user_pin"])
        except PyKCS11.PyKCS11Error as error:
            if error.value == P.CKR_USER_ALREADY_LOGGED_IN:
                pass
            else:
                raise TokenError(f"token {label}: the user PIN given does not open it ({error}); "
                                 "check the PIN in Vault (the value is not shown)") from None
        keys = []
        for key in token["keys"]:
            handle = find_key(session, key["label"], key["type"])
            if handle is None:
                made.append(f"key {label}/{key['label']}")
                if not check_mode:
                    generate(session, key["label"], key["type"])
            else:
                check_key(session, handle, label, key["label"], key["type"])
            keys.append({"label": key["label"], "type": key["type"],
                         "public": public_half(session, key["label"], key["type"])})
        session.logout()
    finally:
        session.closeSession()
    return {"label": label, "serial": info.serialNumber.strip(), "keys": keys}


def input_errors(tokens: list, initialize: bool) -> list[str]:
    errors = []
    for token in tokens:
        label = token.get("label") or ""
        if not label or len(label.encode()) > 32:
            errors.append(f"token label {label!r} must be 1 to 32 bytes")
        if not token.get("user_pin"):
            errors.append(f"token {label}: no user_pin in pins")
        if initialize and not token.get("so_pin"):
            errors.append(f"token {label}: no so_pin in pins (needed to initialise it)")
        for key in token.get("keys") or []:
            if key.get("type") not in KEY_TYPES:
                errors.append(f"token {label}: key {key.get('label')!r} has type {key.get('type')!r}, "
                              f"allowed: {', '.join(KEY_TYPES)}")
            if not key.get("label"):
                errors.append(f"token {label}: a key without a label")
    return errors


def drop_to(owner: str) -> None:
    """Become ``owner`` (uid, gid and supplementary groups) for the rest of this process."""
    account = pwd.getpwnam(owner)
    if os.geteuid() != account.pw_uid:
        os.setgroups(os.getgrouplist(owner, account.pw_gid))
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
    os.environ["HOME"] = account.pw_dir


def work(params: dict, tokens: list, check_mode: bool) -> dict:
    """Converge the tokens: {"made": [...], "tokens": [...]} or {"made": [...], "error": "..."}."""
    library = PyKCS11.PyKCS11Lib()
    made: list[str] = []
    try:
        library.load(params["library"])
        return {"made": made, "tokens": [converge_token(library, token, params["initialize"], check_mode, made)
                                         for token in tokens]}
    except TokenError as error:
        return {"made": made, "error": str(error)}
    except PyKCS11.PyKCS11Error as error:
        return {"made": made, "error": f"PKCS#11 call failed: {error}"}


def work_as(owner: str, params: dict, tokens: list, check_mode: bool) -> dict:
    """work() in a child process that is ``owner``: the module itself stays root (it must still
    read its own payload to report), the tokens belong to the owner."""
    try:
        pwd.getpwnam(owner)
    except KeyError:
        return {"made": [], "error": f"no account {owner} on this host to own the tokens"}
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reader)
        try:
            drop_to(owner)
            result = work(params, tokens, check_mode)
        except PermissionError:
            result = {"made": [], "error": f"cannot act as {owner}: the module must run as root (become)"}
        except BaseException as error:  # the child never returns into Ansible's code
            result = {"made": [], "error": f"{type(error).__name__}: {error}"}
        with os.fdopen(writer, "w") as stream:
            json.dump(result, stream)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as stream:
        text = stream.read()
    os.waitpid(child, 0)
    return json.loads(text) if text else {"made": [], "error": f"the token process acting as {owner} died"}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "library": {"type": "path", "required": True},
            "environment": {"type": "dict", "default": {}},
            "initialize": {"type": "bool", "default": False},
            "owner": {"type": "str", "default": ""},
            "tokens": {"type": "list", "elements": "dict", "required": True},
            "pins": {"type": "dict", "required": True, "no_log": True},
        },
        supports_check_mode=True,
    )
    if PyKCS11 is None:
        module.fail_json(msg=missing_required_lib("PyKCS11 (Debian: python3-pykcs11)"))
    params = module.params
    pins = params["pins"]
    tokens = [{**token, "keys": token.get("keys") or [], **{name: (pins.get(token.get("label")) or {}).get(name)
                                                            for name in ("user_pin", "so_pin")}}
              for token in params["tokens"]]
    errors = input_errors(tokens, params["initialize"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    os.environ.update({name: str(value) for name, value in params["environment"].items()})
    if not os.path.exists(params["library"]):
        module.fail_json(msg=f"the PKCS#11 library {params['library']} is not on this host")
    if params["owner"]:
        result = work_as(params["owner"], params, tokens, module.check_mode)
    else:
        result = work(params, tokens, module.check_mode)
    if "error" in result:
        module.fail_json(msg=result["error"], made=result["made"])
    module.exit_json(changed=bool(result["made"]), made=result["made"], tokens=result["tokens"])


if __name__ == "__main__":
    main()
