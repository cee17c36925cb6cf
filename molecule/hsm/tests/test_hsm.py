"""Two HSM clients with real SoftHSM2 tokens: one token per partition, a secp256k1 key made inside
it, a signing service that signs through PKCS#11 with the role's plumbing, the signature checked by
an independent library, the appliance certificate pinned, the NTLS metric following the (stand-in)
appliance, a canary PIN nowhere it must not be, and bad input refused before anything changes.
A third client runs the luna provider against the Luna client stand-in (tests/hsm/luna_standin):
package checked and installed, client identity, Chrystoki.conf, M-of-N and HA checks through
LunaCM, and signing through the Luna library path (SoftHSM2 behind it)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from scenario_helpers import assert_nothing_changed, lab_key, run_playbook, ssh_host, wait_for

ROOT = Path(__file__).resolve().parents[3]
ADDRESSES = {"signer1": "10.89.90.11", "signer2": "10.89.90.12", "signer3": "10.89.90.13", "hsm1": "10.89.90.20"}
SOFTHSM = ("signer1", "signer2")  # provider softhsm
SIGNERS = (*SOFTHSM, "signer3")  # signer3: provider luna, against the Luna client stand-in
HSM_PLAYBOOK = str(ROOT / "playbooks" / "hsm.yml")
SECRETS = lab_key().parent.parent / "secrets"
METRICS = "/var/lib/prometheus/node-exporter/bizra_hsm.prom"
PIN_FILE = "/etc/bizra/hsm/credentials/lab-signer.service.pin"
PARTITIONS = [
    {"label": "trading-operations", "key_types": ["secp256k1", "rsa-4096"], "m_of_n": {"m": 3, "n": 5},
     "keys": [{"label": "hot-wallet-signer", "type": "secp256k1"}]},
    {"label": "user-authentication", "key_types": ["rsa-2048", "aes-256"], "m_of_n": {"m": 2, "n": 3},
     "keys": [{"label": "session-wrap", "type": "aes-256"}]},
]


@pytest.fixture(scope="module")
def hosts():
    return {name: ssh_host(address) for name, address in ADDRESSES.items()}


def canaries() -> list[str]:
    """Each signer's trading user PIN (made by the inventory's password lookup, with its prefix)."""
    return ["CANARY" + (SECRETS / f"mol-hsm-{name}-trading-user").read_text().strip() for name in SIGNERS]


def flat(output: str) -> str:
    return " ".join(output.split())


def sign(host, message: str) -> dict:
    host.check_output(f"mkdir -p /var/lib/lab-signer && printf %s {message!r} > /var/lib/lab-signer/message")
    host.check_output("systemctl start lab-signer.service")
    return json.loads(host.check_output("cat /var/lib/lab-signer/result.json"))


def independently_verified(result: dict, message: str) -> bool:
    """Verify with Python's cryptography (OpenSSL), not the token: the public point from the token."""
    point = bytes.fromhex(result["public"])
    point = point[2:] if point[0] == 0x04 and point[1] == len(point) - 2 else point  # DER OCTET STRING
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), point)
    raw = bytes.fromhex(result["signature"])
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(signature, message.encode(), ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def test_each_partition_is_a_token_of_its_own(hosts):
    for name in SOFTHSM:
        slots = hosts[name].check_output("softhsm2-util --show-slots")
        for label in ("trading-operations", "user-authentication"):
            assert f"Label:            {label}" in slots, (name, slots)
        assert slots.count("User PIN init.:   yes") == 2, (name, slots)


def test_token_files_belong_to_the_signing_account(hosts):
    for name in SOFTHSM:
        owners = hosts[name].check_output(
            "stat -c '%U %a' $(dirname $(grep -l trading-operations /var/lib/softhsm/tokens/*/token.object))"
            " $(dirname $(grep -l user-authentication /var/lib/softhsm/tokens/*/token.object))")
        # trading-operations is the signing service's (signer); user-authentication no service uses.
        assert owners.split("\n") == ["signer 2700", "root 2700"], (name, owners)


def test_signing_service_signs_through_pkcs11_and_an_independent_library_verifies(hosts):
    message = "transfer 1.5 ETH to 0xabc (lab)"
    result = sign(hosts["signer1"], message)
    assert result["token"] == "trading-operations"
    assert result["verified_by_token"] is True
    assert independently_verified(result, message)
    assert not independently_verified(result, message + " tampered")
    # The private key never leaves the token.
    assert result["sensitive"] is True and result["extractable"] is False
    assert result["value_read"].startswith("refused"), result


def test_a_hosts_token_is_its_own(hosts):
    message = "same message on both hosts"
    first, second = sign(hosts["signer1"], message), sign(hosts["signer2"], message)
    assert first["serial"] != second["serial"]
    assert first["public"] != second["public"]
    # signer1's signature is not one of signer2's key.
    assert not independently_verified({**first, "public": second["public"]}, message)
    # signer2 cannot see signer1's token.
    assert first["serial"] not in hosts["signer2"].check_output("softhsm2-util --show-slots")


def test_pin_file_is_the_services_only(hosts):
    host = hosts["signer1"]
    assert host.check_output(f"stat -c '%U %G %a' {PIN_FILE}") == "signer root 400"
    assert host.check_output("stat -c '%a' /etc/bizra/hsm/credentials") == "711"
    assert host.run(f"runuser -u nobody -- cat {PIN_FILE}").rc != 0
    assert host.run("runuser -u nobody -- ls /etc/bizra/hsm/credentials").rc != 0
    drop_in = host.check_output("cat /etc/systemd/system/lab-signer.service.d/bizra-hsm.conf")
    assert f"HSM_PIN_FILE={PIN_FILE}" in drop_in and "SupplementaryGroups=softhsm" in drop_in


def test_appliance_certificate_is_pinned(hosts):
    expected = (lab_key().parent.parent / "pki" / "mol-hsm" / "ntls-standin.crt").read_text().strip()
    for name in SIGNERS:
        assert hosts[name].check_output("cat /etc/bizra/hsm/servers/luna-a.pem").strip() == expected


def test_ntls_egress_is_exported_to_the_firewall_for_the_appliances_only(hosts):
    dropin = json.loads(hosts["signer1"].check_output("cat /etc/bizra/firewall.d/hsm_client.json"))
    assert dropin["role"] == "hsm_client"
    [rule] = dropin["rules"]
    assert (rule["name"], rule["direction"], rule["proto"]) == ("ntls", "out", "tcp")
    assert 1792 in rule["ports"] and rule["destinations"] == [ADDRESSES["hsm1"]]


def test_a_certificate_that_differs_from_the_pin_is_refused(hosts):
    wrong = "ab" * 32
    servers = [{"name": "luna-a", "address": ADDRESSES["hsm1"], "fingerprint": wrong}]
    before = hosts["signer1"].check_output("sha256sum /etc/bizra/hsm/servers/luna-a.pem")
    code, output, recap = run_playbook(HSM_PLAYBOOK, "-e", json.dumps({"hsm_client_servers": servers}))
    text = flat(output)
    assert code != 0
    assert "refusing the HSM appliance certificate" in text and f"the inventory pins {wrong}" in text, text[-2000:]
    assert all(recap[name]["changed"] == 0 for name in SIGNERS), recap
    assert hosts["signer1"].check_output("sha256sum /etc/bizra/hsm/servers/luna-a.pem") == before


@pytest.mark.parametrize(("override", "expected"), [
    ({"hsm_client_partitions": [{**PARTITIONS[0], "m_of_n": {"m": 6, "n": 5}}, PARTITIONS[1]]},
     "partition trading-operations: m_of_n 6 of 5 is not a quorum (1 <= M <= N <= 16)"),
    ({"hsm_client_partitions": [{**PARTITIONS[0], "key_types": ["secp256k1", "dsa-1024"]}, PARTITIONS[1]]},
     "partition trading-operations: unknown key type 'dsa-1024'"),
    ({"hsm_client_partitions": [PARTITIONS[0], {**PARTITIONS[1], "label": "trading-operations"}]},
     "hsm_client_partitions: labels must differ, got trading-operations, trading-operations"),
    ({"hsm_client_servers": [{"name": "luna-a", "address": "10.89.90.20", "fingerprint": "not-hex"}]},
     "hsm_client_servers: luna-a fingerprint 'not-hex' is not a SHA-256 fingerprint"),
    ({"hsm_client_ntls_egress_destinations": ["luna-a.example"]},
     "hsm_client_ntls_egress_destinations ['luna-a.example'] are not addresses or networks"),
    ({"hsm_client_partitions": [{**PARTITIONS[0], "keys": [{"label": "k", "type": "aes-256"}]}, PARTITIONS[1]]},
     "partition trading-operations: key k has type 'aes-256', not one of the partition's key_types"),
])
def test_bad_input_is_refused_before_anything_changes(hosts, override, expected):
    code, output, recap = run_playbook(HSM_PLAYBOOK, "-e", json.dumps(override))
    text = flat(output)
    assert code != 0
    assert "hsm_client: invalid input on signer1" in text and expected in text, text[-2000:]
    # The first task refused it: no host got further.
    # ok <= 1: the argument spec's check.
    assert all(recap[name]["changed"] == 0 and recap[name]["ok"] <= 1 for name in SIGNERS), recap
    assert not any(canary in output for canary in canaries())


def test_an_existing_key_is_never_replaced(hosts):
    partitions = [{**PARTITIONS[0], "keys": [{"label": "hot-wallet-signer", "type": "rsa-4096"}]}, PARTITIONS[1]]
    public_before = sign(hosts["signer1"], "before")["public"]
    code, output, recap = run_playbook(HSM_PLAYBOOK, "-l", ",".join(SOFTHSM),
                                       "-e", json.dumps({"hsm_client_partitions": partitions}))
    text = flat(output)
    assert code != 0
    assert "token trading-operations: key hot-wallet-signer exists but is not a rsa-4096 key" in text, text[-2000:]
    assert all(recap[name]["changed"] == 0 for name in SOFTHSM), recap
    assert sign(hosts["signer1"], "after")["public"] == public_before
    assert not any(canary in output for canary in canaries())


def test_check_mode_changes_nothing_and_shows_no_pin(hosts):
    code, output, recap = run_playbook(HSM_PLAYBOOK, "--check", "--diff", "-vv")
    assert code == 0, output[-3000:]
    assert_nothing_changed(recap, output, SIGNERS)
    assert not any(canary in output for canary in canaries())


def test_canary_pin_is_in_no_run_artifact_log_or_readable_file(hosts):
    """A real bizractl deploy (its run directory and audit trail), then every host's journal and
    every world-readable file under the places a role writes."""
    with tempfile.TemporaryDirectory() as runs:
        env = {**os.environ, "BIZRA_RUNS_DIR": runs}
        proc = subprocess.run(
            [sys.executable, "-m", "bizractl", "--project", str(ROOT), "deploy", HSM_PLAYBOOK, "-i",
             os.environ["MOLECULE_SCENARIO_DIRECTORY"] + "/inventory/hosts.yml", "-l", "hsm_clients"],
            capture_output=True, text=True, env=env, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        artifacts = [path for path in Path(runs).rglob("*") if path.is_file()]
        assert artifacts, "bizractl wrote no run artifacts"
        for canary in canaries():
            assert canary not in proc.stdout + proc.stderr
            leaked = [str(path) for path in artifacts if canary.encode() in path.read_bytes()]
            assert leaked == [], leaked
    for name in SIGNERS:
        host = hosts[name]
        for canary in canaries():
            assert canary not in host.check_output("journalctl --no-pager -o cat 2>/dev/null || true")
            readable = host.run(
                "find /etc /var /tmp /run /root /home /usr/local /opt -xdev -type f -perm -o=r 2>/dev/null"
                f" | xargs -r grep -l -F {canary!r} 2>/dev/null")
            assert readable.stdout.strip() == "", (name, readable.stdout)
        # Where it must be: the service's own PIN file (and nowhere else under /etc).
        assert host.check_output(f"grep -rlF {canaries()[SIGNERS.index(name)]!r} /etc") == PIN_FILE


def reachable(host) -> str:
    return host.check_output(f"grep '^bizra_hsm_ntls_reachable' {METRICS} || true")


def test_ntls_metric_follows_the_appliance(hosts):
    signer, appliance = hosts["signer1"], hosts["hsm1"]
    assert reachable(signer).endswith(" 1")
    appliance.check_output("systemctl stop lab-ntls-standin@1792")
    try:
        wait_for(lambda: reachable(signer).endswith(" 0"), 30, "bizra_hsm_ntls_reachable 0")
        assert 'hsm="luna-a",address="10.89.90.20:1792"' in reachable(signer)
    finally:
        appliance.check_output("systemctl start lab-ntls-standin@1792")
    wait_for(lambda: reachable(signer).endswith(" 1"), 30, "bizra_hsm_ntls_reachable 1 again")


STANDIN_CALLS = "/var/lib/luna-standin/calls.log"
STANDIN_STATE = "/var/lib/luna-standin/state.json"


def test_luna_client_installed_from_the_package_and_configured(hosts):
    host = hosts["signer3"]
    calls = host.check_output(f"cat {STANDIN_CALLS}").splitlines()
    assert calls.count("install.sh argv=-p network -c sdk") == 1, calls  # installed once, over every run
    assert calls.count("vtl argv=['createCert', '-n', 'signer3']") == 1, calls
    lunacm = [call for call in calls if call.startswith("lunacm")]
    assert lunacm and all(call.startswith("lunacm argv=[] stdin: ") for call in lunacm), lunacm
    assert {"slot list", "partition showinfo", "hagroup listgroups"} <= {c.split("stdin: ")[1] for c in lunacm}
    # The client's NTLS key was made on the host and stays there, root-only.
    assert host.check_output("stat -c '%U %a' /usr/safenet/lunaclient/cert/client/signer3Key.pem") == "root 600"
    conf = host.check_output("cat /etc/Chrystoki.conf")
    for line in ("ServerName00 = 10.89.90.20;", "ServerPort00 = 1792;", "ServerPort01 = 1793;",
                 "VirtualToken00Label = trading-operations;",
                 "VirtualToken00Members = 1238696044963,1238696044964;", "HAOnly = 1;",
                 "ClientCertFile = /usr/safenet/lunaclient/cert/client/signer3.pem;"):
        assert line in conf, (line, conf)
    assert "1238696044965" not in conf.split("VirtualToken = {")[1]  # a single partition is no HA group
    pinned = (lab_key().parent.parent / "pki" / "mol-hsm" / "ntls-standin.crt").read_text().strip()
    assert host.check_output("cat /usr/safenet/lunaclient/cert/server/CAFile.pem").strip() == f"{pinned}\n{pinned}"
    assert host.check_output("stat -c '%G %a' /etc/Chrystoki.conf") == "hsmusers 640"


def test_luna_signing_service_signs_through_the_luna_library_path(hosts):
    host = hosts["signer3"]
    environment = host.check_output("cat /etc/bizra/hsm/trading-operations.env")
    assert "PKCS11_MODULE=/usr/safenet/lunaclient/lib/libCryptoki2_64.so" in environment
    assert "ChrystokiConfigurationPath=/etc" in environment
    assert "SupplementaryGroups=hsmusers" in host.check_output(
        "cat /etc/systemd/system/lab-signer.service.d/bizra-hsm.conf")
    message = "withdrawal 0.1 BTC-equivalent (lab)"
    result = sign(host, message)
    assert result["token"] == "trading-operations" and independently_verified(result, message)
    assert result["sensitive"] is True and result["extractable"] is False


def write_file(host, path: str, text: str) -> None:
    """Write text to a file on the host exactly (base64 on the wire: no shell quoting)."""
    host.check_output(f"echo {base64.b64encode(text.encode()).decode()} | base64 -d > {path}")


def test_luna_policy_that_differs_from_the_inventory_stops_the_run(hosts):
    host = hosts["signer3"]
    original = host.check_output(f"cat {STANDIN_STATE}")
    state = json.loads(original)
    next(p for p in state["partitions"] if p["serial"] == "1238696044964")["m"] = 2
    write_file(host, STANDIN_STATE, json.dumps(state))
    try:
        code, output, recap = run_playbook(HSM_PLAYBOOK, "-l", "signer3")
    finally:
        write_file(host, STANDIN_STATE, original)
    text = flat(output)
    assert code != 0
    assert ("partition trading-operations (serial 1238696044964): M of N is 2 of 5 on the HSM, "
            "the inventory expects 3 of 5") in text, text[-2000:]
    assert recap["signer3"]["changed"] == 0, recap


def test_luna_package_with_another_checksum_is_refused(hosts):
    host = hosts["signer3"]
    before = host.check_output("ls -la --time-style=+%s /usr/safenet/lunaclient/bin")
    wrong = "0" * 64
    code, output, recap = run_playbook(HSM_PLAYBOOK, "-l", "signer3", "-e", f"hsm_client_luna_package_sha256={wrong}")
    text = flat(output)
    assert code != 0
    assert f"hsm_client_luna_package_sha256 pins {wrong}: nothing of it is installed" in text, text[-2000:]
    assert recap["signer3"]["changed"] == 0, recap
    assert host.check_output("ls -la --time-style=+%s /usr/safenet/lunaclient/bin") == before


def test_hsm_status_reports_every_client_and_changes_nothing(hosts):
    code, output, recap = run_playbook(str(ROOT / "playbooks" / "incident" / "hsm_status.yml"))
    assert code == 0, output[-3000:]
    assert_nothing_changed(recap, output, SIGNERS)
    text = flat(output)
    for name in SOFTHSM:
        assert re.search(rf"{name}: softhsm; trading-operations serial [0-9a-f]+, keys hot-wallet-signer; "
                         rf"user-authentication serial [0-9a-f]+, keys session-wrap; appliances luna-a=UP", text), text
    assert re.search(r"signer3: luna; trading-operations serial [0-9a-f]+, keys hot-wallet-signer; "
                     r"user-authentication serial [0-9a-f]+, keys none; lunacm: ok; vtl sees 3 partitions; "
                     r"appliances luna-a=UP luna-b=UP",
                     text), text[-3000:]
