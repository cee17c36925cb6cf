#!/usr/bin/env python3
"""TEST STAND-IN for a consensus client (never shipped): drives a private geth chain through
the engine API, the way a beacon node does, so the lab's geth nodes produce and import blocks.

`geth --dev` never opens the engine API, so it cannot prove the JWT pairing; this driver talks
to each node's authrpc endpoint with an HS256 JWT made from that node's secret (standard library
only: it runs on any lab host). Every period it asks the first node that answers to build a
block on its head (engine_forkchoiceUpdatedV3 with payload attributes, engine_getPayloadV3),
then hands the block to every node (engine_newPayloadV4 + engine_forkchoiceUpdatedV3). A node
that is down is skipped and catches up from its peers when it is back.

    engine_driver.py --node http://10.89.80.11:8551=/etc/bizra-lab/geth1.jwt --node ... [--period 2]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

ZERO32 = "0x" + "00" * 32
FEE_RECIPIENT = "0x" + "00" * 19 + "01"


def jwt_token(secret: bytes, now: float | None = None) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = b64(json.dumps({"iat": int(now if now is not None else time.time())}, separators=(",", ":")).encode())
    signature = hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(signature)}"


def read_secret(path: str) -> bytes:
    with open(path, encoding="ascii") as handle:
        return bytes.fromhex(handle.read().strip().removeprefix("0x"))


class Node:
    def __init__(self, url: str, secret: bytes):
        self.url, self.secret = url, secret

    def call(self, method: str, *params, timeout: float = 5.0):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.url, data=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {jwt_token(self.secret)}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]


def produce(proposer: Node, nodes: list[Node]) -> tuple[int, str, dict[str, str]]:
    head = proposer.call("eth_getBlockByNumber", "latest", False)
    attributes = {
        "timestamp": hex(max(int(time.time()), int(head["timestamp"], 16) + 1)),
        "prevRandao": "0x" + os.urandom(32).hex(),
        "suggestedFeeRecipient": FEE_RECIPIENT,
        "withdrawals": [],
        "parentBeaconBlockRoot": ZERO32,
    }
    state = {"headBlockHash": head["hash"], "safeBlockHash": head["hash"], "finalizedBlockHash": head["hash"]}
    built = proposer.call("engine_forkchoiceUpdatedV3", state, attributes)
    if not built.get("payloadId"):
        raise RuntimeError(f"no payload id from {proposer.url}: {built['payloadStatus']}")
    envelope = proposer.call("engine_getPayloadV3", built["payloadId"])
    payload = envelope["executionPayload"]
    statuses = {}
    for node in nodes:
        try:
            status = node.call("engine_newPayloadV3", payload, [], ZERO32)
            choice = node.call("engine_forkchoiceUpdatedV3", {
                "headBlockHash": payload["blockHash"], "safeBlockHash": payload["blockHash"],
                "finalizedBlockHash": head["hash"]}, None)
            statuses[node.url] = f"{status['status']}/{choice['payloadStatus']['status']}"
        except (OSError, RuntimeError, urllib.error.URLError) as error:
            statuses[node.url] = f"unreachable ({error})"
    return int(payload["blockNumber"], 16), payload["blockHash"], statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", action="append", required=True, metavar="URL=JWT_FILE")
    parser.add_argument("--period", type=float, default=2.0, help="seconds between blocks")
    parser.add_argument("--blocks", type=int, default=0, help="stop after this many blocks (0: run until stopped)")
    args = parser.parse_args(argv)
    nodes = [Node(url, read_secret(path)) for url, path in (spec.split("=", 1) for spec in args.node)]
    produced = 0
    while args.blocks == 0 or produced < args.blocks:
        started = time.monotonic()
        for proposer in nodes:
            try:
                number, block_hash, statuses = produce(proposer, nodes)
            except (OSError, RuntimeError, urllib.error.URLError, KeyError) as error:
                print(f"proposer {proposer.url}: {error}", flush=True)
                continue
            produced += 1
            print(f"block {number} {block_hash[:18]} by {proposer.url}: "
                  + ", ".join(f"{url} {state}" for url, state in statuses.items()), flush=True)
            break
        time.sleep(max(0.0, args.period - (time.monotonic() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
