"""Two real geth nodes on a private chain, driven through the engine API by the test consensus
driver on cl1: blocks, peering, the JWT, the unit's sandbox, refused configs and releases, a
rolling upgrade and rollback behind the health gate. Runs in file order (the last tests change
the running release)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from scenario_helpers import assert_nothing_changed, lab_key, ssh_host, wait_for
from scenario_helpers import run_playbook as run_scenario_playbook

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "geth"))
from engine_driver import jwt_token  # noqa: E402  (the test driver's own JWT maker)

ADDRESSES = {"geth1": "10.89.80.11", "geth2": "10.89.80.12", "cl1": "10.89.80.20", "gw1": "10.89.80.30"}
GATEWAY = ADDRESSES["gw1"]
CA_FILE = lab_key().parent.parent / "pki" / "mol-geth" / "ca.crt"
NODES = ("geth1", "geth2")
SECRETS = lab_key().parent.parent / "secrets"
GETH_PLAYBOOK = str(ROOT / "playbooks" / "geth.yml")
ROLLBACK_PLAYBOOK = str(ROOT / "playbooks" / "incident" / "geth_rollback.yml")
STATUS_PLAYBOOK = str(ROOT / "playbooks" / "incident" / "geth_status.yml")
FIRST_VERSION, SECOND_VERSION = "1.17.9", "1.17.10"


def run_playbook(playbook: str, *args: str):
    """The scenario helper, with the output's whitespace folded (the YAML callback wraps messages)."""
    code, output, recap = run_scenario_playbook(playbook, *args)
    return code, " ".join(output.split()), recap


@pytest.fixture(scope="module")
def hosts():
    return {name: ssh_host(address) for name, address in ADDRESSES.items()}


def console(host, expression: str) -> str:
    """Evaluate a geth console expression over the node's IPC socket (on the host, as root)."""
    return host.check_output(f"/opt/geth/current/geth attach --exec '{expression}' /var/lib/geth/geth.ipc").strip('"')


def head(host) -> int:
    return int(console(host, "eth.blockNumber"))


def main_pid(host) -> str:
    return host.check_output("systemctl show -p MainPID --value geth")


def running_version(host) -> str:
    return host.check_output("readlink /proc/$(systemctl show -p MainPID --value geth)/exe")


def engine_call(address: str, token: str | None) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "engine_exchangeCapabilities", "params": [[]]}).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://{address}:8551", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(CA_FILE))


def gateway_post(body: bytes | str, path: str = "/", timeout: float = 5) -> tuple[int, bytes]:
    """POST to the gateway's HTTPS JSON-RPC endpoint, verifying its certificate; (status, body)."""
    data = body.encode() if isinstance(body, str) else body
    connection = http.client.HTTPSConnection(GATEWAY, 443, context=tls(), timeout=timeout)
    try:
        connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def rpc(method: str, *params) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})


def _read_exactly(sock, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"the gateway closed the connection after {len(data)} of {count} bytes")
        data += chunk
    return data


def ws_exchange(message: str) -> tuple[int, bytes]:
    """One text message over the gateway's WebSocket port (TLS), with a minimal client: the opcode and
    payload of the first frame that comes back (1 text, 8 close: its payload starts with the code)."""
    raw = socket.create_connection((GATEWAY, 8443), timeout=10)
    sock = tls().wrap_socket(raw, server_hostname=GATEWAY)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: {GATEWAY}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    handshake = b""
    while b"\r\n\r\n" not in handshake:
        handshake += sock.recv(4096)
    assert handshake.startswith(b"HTTP/1.1 101"), handshake[:200]
    payload, mask = message.encode(), os.urandom(4)
    if len(payload) > 0xFFFF:
        header = bytes([0x81, 0x80 | 127]) + len(payload).to_bytes(8, "big")
    elif len(payload) > 125:
        header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | len(payload)])
    frame = header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    # Written while watching for the answer, as a full-duplex client does: the gateway refuses a
    # message over its limit after reading its header, and a client still writing the rest then
    # meets the closed connection (SSL EOF) instead of reading the close frame already sent to it.
    sent = 0
    while sent < len(frame):
        readable, writable, _ = select.select([sock], [sock], [], 10)
        if readable or sock.pending():
            break
        if not writable:
            raise TimeoutError(f"the gateway took no more of the message after {sent} of {len(frame)} bytes in 10 s")
        try:
            sent += sock.send(frame[sent:sent + 16384])
        except OSError:
            break
    first, second = _read_exactly(sock, 2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(_read_exactly(sock, 2), "big")
    elif length == 127:
        length = int.from_bytes(_read_exactly(sock, 8), "big")
    data = _read_exactly(sock, length)
    sock.close()
    return first & 0x0F, data


def ws_call(message: str) -> dict:
    """One JSON-RPC call over the gateway's WebSocket port."""
    opcode, data = ws_exchange(message)
    assert opcode == 1, (opcode, data[:200])
    return json.loads(data)


class Load(threading.Thread):
    """eth_blockNumber through the gateway every 250 ms: failures and the longest gap between answers."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.ok, self.failures, self.longest_gap = threading.Event(), 0, [], 0.0

    def run(self):
        last = time.monotonic()
        while not self.stop.is_set():
            try:
                status, body = gateway_post(rpc("eth_blockNumber"), timeout=5)
                good = status == 200 and "result" in json.loads(body)
            except (OSError, ValueError) as error:
                status, good = repr(error), False
            now = time.monotonic()
            if good:
                self.ok += 1
                self.longest_gap, last = max(self.longest_gap, now - last), now
            else:
                self.failures.append(status)
            time.sleep(0.25)  # 4 requests/s: well under the per-client rate limit

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()


def driver_log_since(hosts, since: str) -> list[str]:
    return hosts["cl1"].check_output(
        f"journalctl -u bizra-lab-engine-driver --since '{since}' --no-pager -o cat").splitlines()


def test_blocks_advance_on_both_nodes_through_the_engine_api(hosts):
    start = {name: head(hosts[name]) for name in NODES}
    wait_for(lambda: all(head(hosts[name]) >= start[name] + 3 for name in NODES), 60, "3 new blocks on both nodes")
    common = min(head(hosts[name]) for name in NODES)
    hashes = {name: console(hosts[name], f"eth.getBlock({common}).hash") for name in NODES}
    assert hashes["geth1"] == hashes["geth2"], f"the nodes disagree on block {common}: {hashes}"
    print(f"\nblock {common} on both nodes: {hashes['geth1']}")


def test_the_nodes_peer_with_each_other(hosts):
    ids = {name: console(hosts[name], "admin.nodeInfo.id") for name in NODES}
    for name, other in (("geth1", "geth2"), ("geth2", "geth1")):
        peers = console(hosts[name], 'admin.peers.map(function(p){return p.id}).join(",")').split(",")
        assert ids[other] in peers, f"{name} is not peered with {other}: {peers}"


def test_the_engine_api_refuses_a_wrong_or_missing_jwt():
    secret = bytes.fromhex((SECRETS / "mol-geth-geth1-jwt").read_text().split()[0])
    assert engine_call(ADDRESSES["geth1"], jwt_token(secret)) == 200
    assert engine_call(ADDRESSES["geth1"], jwt_token(bytes(32))) == 401
    assert engine_call(ADDRESSES["geth1"], jwt_token(secret, now=time.time() - 3600)) == 401  # stale iat
    assert engine_call(ADDRESSES["geth1"], None) == 401


def test_the_secrets_have_tight_modes_and_the_inventory_secret_is_used(hosts):
    for name in NODES:
        jwt = hosts[name].file("/etc/geth/jwt.hex")
        assert (jwt.user, jwt.group, jwt.mode) == ("root", "geth", 0o640)
        nodekey = hosts[name].file("/var/lib/geth/geth/nodekey")
        assert (nodekey.user, nodekey.mode) == ("geth", 0o600)
    inventory_secret = (SECRETS / "mol-geth-geth1-jwt").read_text().split()[0].lower()
    assert hosts["geth1"].file("/etc/geth/jwt.hex").content_string.strip() == inventory_secret
    made_on_host = hosts["geth2"].file("/etc/geth/jwt.hex").content_string.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", made_on_host) and made_on_host != inventory_secret


def test_rpc_listens_for_the_gateway_only_and_metrics_carry_the_names_the_alerts_use(hosts):
    listening = hosts["geth1"].check_output("ss -Hltn")
    assert re.search(r"10\.89\.80\.11:8545\s", listening) and re.search(r"10\.89\.80\.11:8546\s", listening)
    assert not re.search(r"(0\.0\.0\.0|\*):854[56]\s", listening), listening
    dropin = json.loads(hosts["geth1"].file("/etc/bizra/firewall.d/geth.json").content_string)
    rules = {rule["name"]: rule for rule in dropin["rules"]}
    assert rules["geth_rpc"]["sources"] == [GATEWAY] and rules["geth_rpc"]["ports"] == [8545, 8546, 8552]
    assert rules["geth_engine_api"]["sources"] == [ADDRESSES["cl1"]]
    assert rules["geth_p2p"]["sources"] == ["0.0.0.0/0", "::/0"]
    with urllib.request.urlopen(f"http://{ADDRESSES['geth1']}:6060/debug/metrics/prometheus", timeout=5) as answer:
        metrics = answer.read().decode()
    for name in ("chain_head_block", "chain_head_header", "p2p_peers"):
        assert re.search(rf"^{name} ", metrics, re.MULTILINE), f"{name} missing from geth's metrics"


def test_the_gateway_speaks_tls_only_over_http_and_websocket():
    status, body = gateway_post(rpc("eth_blockNumber"))
    assert status == 200 and int(json.loads(body)["result"], 16) > 0
    assert ws_call(rpc("eth_chainId"))["result"] == hex(31337)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        plain = http.client.HTTPConnection(GATEWAY, 443, timeout=5)
        plain.request("POST", "/", body=rpc("eth_blockNumber"), headers={"Content-Type": "application/json"})
        plain.getresponse().read()


def test_the_gateway_never_passes_admin_debug_personal_or_miner_methods():
    for method in ("admin_nodeInfo", "debug_traceBlockByNumber", "personal_listAccounts", "miner_start",
                   "ADMIN_peers"):
        assert gateway_post(rpc(method))[0] == 403, method
    batch = json.dumps([json.loads(rpc("eth_blockNumber")), {"jsonrpc": "2.0", "id": 2, "method": "admin_peers"}])
    assert gateway_post(batch)[0] == 403
    assert gateway_post('{"jsonrpc":"2.0","id":1,"method":"\\u0061dmin_peers","params":[]}')[0] == 403
    # Over WebSocket the gateway cannot read messages: the nodes do not serve these namespaces.
    assert ws_call(rpc("admin_nodeInfo"))["error"]["code"] == -32601


def test_the_gateway_closes_a_websocket_that_sends_a_message_over_64_kb(hosts):
    def padded(size: int) -> str:  # a valid call of exactly `size` bytes (geth ignores the extra member)
        call = rpc("eth_chainId")
        return call[:-1] + ', "pad": "' + "x" * (size - len(call) - 11) + '"}'

    since = hosts["gw1"].check_output("date '+%Y-%m-%d %H:%M:%S'")
    assert len(padded(65536)) == 65536
    assert ws_call(padded(65536))["result"] == hex(31337), "a message of 64 KB passes"
    opcode, data = ws_exchange(padded(65537))
    assert (opcode, int.from_bytes(data[:2], "big")) == (8, 1009), "closed: message too big"
    # The relay names the client (once the close handshake is over: this client never answers the
    # close frame, so after the relay's 10 s close timeout); the connection that follows is served.
    def relay_log() -> str:
        return hosts["gw1"].check_output(f"journalctl -u bizra-ws-message-limit --since '{since}' --no-pager -o cat")

    wait_for(lambda: "a message over 65536 bytes" in relay_log(), 30, "the relay's log line")
    assert "client 10.89.80.254: closed (1009)" in relay_log(), relay_log()
    assert ws_call(rpc("eth_chainId"))["result"] == hex(31337)


def test_modsecurity_passes_the_chains_calls_and_refuses_an_attack_naming_the_client(hosts):
    # Hex everywhere (addresses, calldata): what JSON-RPC is, passed by the CRS at paranoia level 2.
    call = {"from": "0x" + "11" * 20, "to": "0x" + "22" * 20, "data": "0xa9059cbb" + "00" * 64}
    for method, params in (("eth_call", [call, "latest"]), ("eth_getBalance", ["0x" + "1f" * 20, "latest"]),
                           ("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "topics": ["0x" + "dd" * 32]}]),
                           ("eth_feeHistory", ["0x2", "latest", [25, 75]])):
        status, body = gateway_post(rpc(method, *params))
        assert status == 200 and "result" in json.loads(body), (method, status, body[:300])
    assert gateway_post(json.dumps([json.loads(rpc("eth_blockNumber"))] * 10))[0] == 200, "a batch of 10 calls"
    audit = "/var/log/nginx/bizra-modsecurity-audit.log"
    lines_before = int(hosts["gw1"].check_output(f"cat {audit} 2>/dev/null | wc -l"))
    refused = [
        # attacks in a parameter (403)
        (rpc("eth_getBalance", "' OR 1=1 UNION SELECT password FROM users --", "latest"), 403, {"942100", "949110"}),
        (rpc("eth_call", {"data": "<script>alert(document.cookie)</script>"}, "latest"), 403, {"941100", "949110"}),
        # seed 001's JSON body validation (400): deeper than 5 levels, more than 100 values
        (rpc("eth_call", {"data": [[[[["0x"]]]]]}, "latest"), 400, {"200002"}),
        (json.dumps([json.loads(rpc("eth_blockNumber"))] * 40), 400, {"200007"}),
    ]
    for body, expected, _ in refused:
        assert gateway_post(body)[0] == expected, body[:100]
    entries = [json.loads(line)["transaction"]
               for line in hosts["gw1"].check_output(f"tail -n +{lines_before + 1} {audit}").splitlines()]
    # Only refusals: the calls above raised no warning either (they would be audit lines of their own).
    assert [entry["response"]["http_code"] for entry in entries] == [expected for _, expected, _ in refused], entries
    rules = [{message["details"]["ruleId"] for message in entry["messages"]} for entry in entries]
    assert len(rules) == len(refused), rules
    assert all(want <= got for (_, _, want), got in zip(refused, rules, strict=True)), rules
    # The client's own address (HAProxy's X-Forwarded-For), not HAProxy's.
    assert {entry["client_ip"] for entry in entries} == {"10.89.80.254"}, entries
    # Its own nginx: Debian's (and its default site on port 80) stays off.
    assert hosts["gw1"].service("bizra-modsecurity").is_running
    assert not hosts["gw1"].service("nginx").is_running and ":80 " not in hosts["gw1"].check_output("ss -Hltn")


def test_the_gateway_enforces_the_url_and_body_limits():
    assert gateway_post(rpc("eth_blockNumber"), path="/" + "a" * 3000)[0] == 414
    assert gateway_post(b" " * (1024 * 1024 + 1))[0] == 413
    status, body = gateway_post(b" " * (1024 * 1024 - 200) + rpc("eth_blockNumber").encode())
    assert status == 200 and "result" in json.loads(body), "a body just under 1 MB must pass"


def test_the_gateway_limits_connections_and_keeps_serving():
    held = []
    try:
        for _ in range(20):  # the lab's rpc_gateway_max_http_connections
            connection = http.client.HTTPSConnection(GATEWAY, 443, context=tls(), timeout=5)
            connection.request("POST", "/", body=rpc("eth_blockNumber"), headers={"Content-Type": "application/json"})
            assert connection.getresponse().read()
            held.append(connection)
        assert gateway_post(rpc("eth_blockNumber"))[0] == 503, "connection 21 must be refused"
    finally:
        for connection in held:
            connection.close()
    wait_for(lambda: gateway_post(rpc("eth_blockNumber"))[0] == 200, 10, "the gateway to serve again")


def test_the_gateway_rate_limits_each_client_and_keeps_serving(hosts):
    # From cl1, a client of its own: 120 requests as fast as it can (the limit: 50 in any 5 s).
    script = (
        "import http.client, ssl, json, collections\n"
        f"ctx = ssl.create_default_context(cafile='/tmp/gateway-ca.crt')\n"
        "counts = collections.Counter()\n"
        "for _ in range(120):\n"
        f"    c = http.client.HTTPSConnection('{GATEWAY}', 443, context=ctx, timeout=5)\n"
        "    c.request('POST', '/', body='{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\",\"params\":[]}',"
        " headers={'Content-Type': 'application/json'})\n"
        "    counts[c.getresponse().status] += 1\n"
        "    c.close()\n"
        "print(json.dumps(counts))\n")
    hosts["cl1"].run(f"cat > /tmp/gateway-ca.crt <<'EOF'\n{CA_FILE.read_text()}EOF")
    hosts["cl1"].run(f"cat > /tmp/rate.py <<'EOF'\n{script}EOF")
    counts = json.loads(hosts["cl1"].check_output("python3 /tmp/rate.py"))
    print(f"\nrate limit from cl1: {counts}")
    assert 50 <= counts.get("200", 0) < 120 and counts.get("429", 0) > 0 and set(counts) <= {"200", "429"}
    assert gateway_post(rpc("eth_blockNumber"))[0] == 200, "another client is not limited"


def test_failover_when_a_node_stops_keeps_the_gateway_answering(hosts):
    # The tests before sent bursts from this client; requests refused with 429 count too, so let
    # the client's rate settle first (two windows of 5 s).
    time.sleep(11)
    with Load() as load:
        time.sleep(2)
        hosts["geth1"].check_output("systemctl stop geth")
        time.sleep(8)
        hosts["geth1"].check_output("systemctl start geth")
        wait_for(lambda: head(hosts["geth1"]) >= head(hosts["geth2"]), 60, "geth1 to catch up",
                 retry_on=(AssertionError,))
        time.sleep(4)
    print(f"\nfailover (geth1 stopped for 8 s): {load.ok} answers, {len(load.failures)} failed "
          f"{load.failures[:5]}, longest gap between answers {load.longest_gap:.2f} s")
    assert load.ok > 25 and not load.failures


def test_the_unit_is_sandboxed_and_stops_geth_gently(hosts):
    summary = hosts["geth1"].check_output("systemd-analyze security geth --no-pager | tail -1")
    exposure = float(re.search(r"exposure level for geth\.service: ([0-9.]+)", summary).group(1))
    print(f"\nsystemd-analyze security geth: {exposure}")
    assert exposure <= 3.0, summary
    shown = dict(line.split("=", 1) for line in hosts["geth1"].check_output(
        "systemctl show geth -p KillSignal -p TimeoutStopUSec -p LimitNOFILE -p User").splitlines())
    assert shown["KillSignal"] == "2" and shown["User"] == "geth"
    assert shown["TimeoutStopUSec"] in ("15min", "900s") or shown["TimeoutStopUSec"].startswith("15min")
    assert int(shown["LimitNOFILE"]) >= 10 + 2000


def test_the_status_playbook_shows_each_node_and_the_gateways_view_and_changes_nothing(hosts):
    code, output, recap = run_playbook(STATUS_PLAYBOOK)
    assert code == 0, output[-3000:]
    for name in NODES:
        line = re.search(rf"{name}: running, release {FIRST_VERSION}, head (\d+) \((\d+) s old\), peers 1, "
                         r"gateways: gw1=UP", output)
        assert line, f"no status line for {name}:\n{output[-2000:]}"
        assert int(line.group(1)) > 0 and int(line.group(2)) < 30
    assert_nothing_changed(recap, output, NODES)


def test_check_mode_changes_nothing_and_shows_no_secret():
    code, output, recap = run_playbook("converge.yml", "--check", "--diff")
    assert code == 0, output[-3000:]
    assert_nothing_changed(recap, output, ADDRESSES)
    assert (SECRETS / "mol-geth-geth1-jwt").read_text().split()[0] not in output


def test_bad_input_is_refused_before_anything_changes(hosts):
    pids = {name: main_pid(hosts[name]) for name in NODES}
    code, output, recap = run_playbook(
        GETH_PLAYBOOK, "-e", "geth_cache_mb=99999999", "-e", "geth_network_id=5", "-e", "geth_jwt_secret=not-hex",
        "-e", '{"geth_rpc_apis": ["eth", "admin"]}', "-e", "geth_release_sha256=abc", "-e", "geth_min_free_disk_mb=-1")
    assert code != 0
    for expected in ("geth: invalid input on geth1", "geth: invalid input on geth2",
                     "geth_cache_mb 99999999 is more than this host can give geth",
                     "geth_network_id 5 differs from geth_genesis.config.chainId 31337",
                     "geth_jwt_secret must be 64 hex digits", "admin, debug, personal and miner are never served",
                     "geth_release_sha256 'abc'", "geth_min_free_disk_mb '-1' must be a whole number of MiB"):
        assert expected in output, f"{expected!r} not in:\n{output[-3000:]}"
    assert "not-hex" not in output
    assert {host: counts["changed"] for host, counts in recap.items()} == {"geth1": 0, "geth2": 0}
    code, output, _ = run_playbook(GETH_PLAYBOOK, "-e", "geth_network=ropsten")
    assert code != 0 and "geth_network" in output and "mainnet, sepolia, hoodi, private" in output, output[-2000:]
    assert {name: main_pid(hosts[name]) for name in NODES} == pids


def test_a_config_geth_rejects_never_replaces_the_running_one(hosts):
    before = {name: (main_pid(hosts[name]), hosts[name].file("/etc/geth/config.toml").sha256sum) for name in NODES}
    # Passes the role's checks (an int), but geth's TOML reader refuses a negative slot count.
    code, output, recap = run_playbook(GETH_PLAYBOOK, "-e", "geth_txpool_global_slots=-5")
    assert code != 0
    assert "failed to validate" in output and "GlobalSlots" in output, output[-3000:]
    assert recap["geth1"]["changed"] == 0 and recap.get("geth2", {}).get("changed", 0) == 0, recap
    after = {name: (main_pid(hosts[name]), hosts[name].file("/etc/geth/config.toml").sha256sum) for name in NODES}
    assert after == before


def test_a_release_that_does_not_match_its_checksum_installs_nothing(hosts):
    before = {name: (main_pid(hosts[name]), running_version(hosts[name])) for name in NODES}
    code, output, _ = run_playbook(GETH_PLAYBOOK, "-e", f"geth_version={SECOND_VERSION}",
                                   "-e", "geth_release_sha256=" + "0" * 64)
    assert code != 0
    assert f"geth {SECOND_VERSION} on geth1 was not installed, nothing changed" in output, output[-3000:]
    assert "checksum" in output
    for name in NODES:
        assert not hosts[name].file(f"/opt/geth/geth-{SECOND_VERSION}").exists
        assert hosts[name].file("/opt/geth/current").linked_to == f"/opt/geth/geth-{FIRST_VERSION}"
    assert {name: (main_pid(hosts[name]), running_version(hosts[name])) for name in NODES} == before


def test_a_release_signed_by_another_key_installs_nothing(hosts, tmp_path):
    """The mirror signs its releases and the inventory pins its key (the upgrade below passes the
    check): a key that did not sign the release refuses it before anything is unpacked."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--quiet"]
    subprocess.run([*gpg, "--passphrase", "", "--quick-gen-key", "someone else <else@lab.bizra.invalid>",
                    "ed25519", "sign", "never"], check=True)
    other_key = subprocess.run([*gpg, "--armor", "--export"], capture_output=True, text=True, check=True).stdout
    before = {name: (main_pid(hosts[name]), running_version(hosts[name])) for name in NODES}
    code, output, _ = run_playbook(GETH_PLAYBOOK, "-e", f"geth_version={SECOND_VERSION}",
                                   "-e", json.dumps({"geth_release_signing_key": other_key}))
    flat = " ".join(output.split())
    assert code != 0
    assert f"geth {SECOND_VERSION} on geth1 was not installed, nothing changed" in flat, flat[-3000:]
    assert "does not verify with the pinned key" in flat
    for name in NODES:
        assert not hosts[name].file(f"/opt/geth/geth-{SECOND_VERSION}").exists
        assert hosts[name].file("/opt/geth/current").linked_to == f"/opt/geth/geth-{FIRST_VERSION}"
    assert {name: (main_pid(hosts[name]), running_version(hosts[name])) for name in NODES} == before


def test_an_upgrade_restarts_one_node_at_a_time_behind_the_gate(hosts):
    since = hosts["cl1"].check_output("date '+%Y-%m-%d %H:%M:%S'")
    # A file in the datadir that is not geth's: the role must not chown the datadir recursively.
    hosts["geth1"].check_output("touch /var/lib/geth/not-geths && chown root:root /var/lib/geth/not-geths")
    started = time.monotonic()
    with Load() as load:
        code, output, _ = run_playbook(GETH_PLAYBOOK, "-e", f"geth_version={SECOND_VERSION}")
    took = time.monotonic() - started
    print(f"\nrolling upgrade under load through the gateway: {load.ok} answers, {len(load.failures)} failed "
          f"{load.failures[:5]}, longest gap {load.longest_gap:.2f} s")
    assert not load.failures
    assert code == 0, output[-4000:]
    for name in NODES:
        assert running_version(hosts[name]) == f"/opt/geth/geth-{SECOND_VERSION}/geth"
        assert hosts[name].file(f"/opt/geth/geth-{FIRST_VERSION}/geth").exists, "the previous release was not kept"
    assert hosts["geth1"].file("/var/lib/geth/not-geths").user == "root"
    # One node at a time: geth1 passed its gate before geth2 was restarted.
    steps = re.findall(r"(?:TASK|RUNNING HANDLER) \[bizra\.infra\.geth : "
                       r"(Restart geth|Wait \(common_ready_timeout\) until geth answers)"
                       r"[^\]]*\] \**\s*(?:changed|ok): \[(geth\d)\]", output)
    assert steps == [("Restart geth", "geth1"), ("Wait (common_ready_timeout) until geth answers", "geth1"),
                     ("Restart geth", "geth2"), ("Wait (common_ready_timeout) until geth answers", "geth2")], steps
    # The chain never stopped: every driver round had a node to build on, and never were both down.
    lines = driver_log_since(hosts, since)
    blocks = [line for line in lines if line.startswith("block ")]
    both_down = [line for line in blocks if line.count("unreachable") >= 2]
    print(f"\nrolling upgrade: {took:.0f} s, {len(blocks)} blocks produced meanwhile, "
          f"{sum('unreachable' in line for line in blocks)} rounds with one node down")
    assert not both_down, both_down
    assert len(blocks) >= took / 2 * 0.5, f"only {len(blocks)} blocks in {took:.0f} s"


def test_a_rollback_to_a_release_a_node_lacks_is_refused(hosts):
    before = {name: main_pid(hosts[name]) for name in NODES}
    code, output, _ = run_playbook(ROLLBACK_PLAYBOOK, "-e", "geth_rollback_version=1.2.3",
                                   "-e", f"incident_confirm={','.join(NODES)}")
    assert code != 0 and "/opt/geth/geth-1.2.3 is not there" in output, output[-2000:]
    assert {name: main_pid(hosts[name]) for name in NODES} == before


def test_a_rollback_goes_back_one_node_at_a_time(hosts):
    # destructive: without the nodes' names typed as confirmation nothing restarts
    before = {name: main_pid(hosts[name]) for name in NODES}
    code, output, _ = run_playbook(ROLLBACK_PLAYBOOK, "-e", f"geth_rollback_version={FIRST_VERSION}")
    assert code != 0 and "-e incident_confirm=geth1,geth2" in " ".join(output.split()), output[-2000:]
    assert {name: main_pid(hosts[name]) for name in NODES} == before
    code, output, _ = run_playbook(ROLLBACK_PLAYBOOK, "-e", f"geth_rollback_version={FIRST_VERSION}",
                                   "-e", f"incident_confirm={','.join(NODES)}")
    assert code == 0, output[-4000:]
    for name in NODES:
        assert running_version(hosts[name]) == f"/opt/geth/geth-{FIRST_VERSION}/geth"
    start = {name: head(hosts[name]) for name in NODES}
    wait_for(lambda: all(head(hosts[name]) > start[name] for name in NODES), 30, "blocks after the rollback")


def test_a_failed_health_gate_stops_the_run_at_that_node(hosts):
    hosts["cl1"].check_output("systemctl stop bizra-lab-engine-driver")  # no consensus client: no new head
    try:
        # Heads stop moving: once they are older than geth_health_max_head_age (10 s) every node
        # leaves the gateway's rotation and the gateway says so (503) rather than serve a stale chain.
        wait_for(lambda: gateway_post(rpc("eth_blockNumber"))[0] == 503, 40, "the gateway to drop the stale nodes")
        geth2_pid = main_pid(hosts["geth2"])
        code, output, _ = run_playbook(GETH_PLAYBOOK, "-e", "geth_max_peers=12", "-e", "common_ready_timeout=12")
        assert code != 0
        assert "geth on geth1 failed its health gate after the restart" in output, output[-3000:]
        assert re.search(r"head (\d+) \(before: \1, must advance\)", output), output[-3000:]
        assert "The nodes after it were not touched" in output
        assert main_pid(hosts["geth2"]) == geth2_pid, "geth2 was restarted after geth1 failed its gate"
    finally:
        hosts["cl1"].check_output("systemctl start bizra-lab-engine-driver")
    code, output, _ = run_playbook(GETH_PLAYBOOK)
    assert code == 0, output[-3000:]
    wait_for(lambda: gateway_post(rpc("eth_blockNumber"))[0] == 200, 30, "the nodes back in rotation")
