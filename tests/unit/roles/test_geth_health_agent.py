"""geth-health-agent (role geth): what it tells the gateway for each state of the node."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles/geth/files/geth-health-agent"
loader = importlib.machinery.SourceFileLoader("geth_health_agent", str(SCRIPT))
spec = importlib.util.spec_from_loader("geth_health_agent", loader)
agent = importlib.util.module_from_spec(spec)
loader.exec_module(agent)

NOW = 1_800_000_000


@pytest.fixture
def node():
    """A stand-in geth JSON-RPC endpoint answering the agent's batch from `state`."""
    state = {"syncing": False, "timestamp": NOW - 5, "peers": 3}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            batch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            results = {"eth_syncing": state["syncing"],
                       "eth_getBlockByNumber": {"number": "0x2a", "timestamp": hex(state["timestamp"])},
                       "net_peerCount": hex(state["peers"])}
            body = json.dumps([{"jsonrpc": "2.0", "id": call["id"], "result": results[call["method"]]}
                               for call in batch]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_a_healthy_node_is_up(node):
    _, url = node
    assert agent.verdict(url, max_head_age=60, min_peers=1, now=NOW) == "up"


def test_a_syncing_stale_or_lonely_node_is_down_saying_why(node):
    state, url = node
    state["syncing"] = {"currentBlock": "0x1", "highestBlock": "0x9"}
    assert agent.verdict(url, 60, 1, now=NOW) == "down #syncing"
    state["syncing"], state["timestamp"] = False, NOW - 120
    assert agent.verdict(url, 60, 1, now=NOW) == "down #head 42 is 120 s old"
    state["timestamp"], state["peers"] = NOW, 0
    assert agent.verdict(url, 60, 1, now=NOW) == "down #0 peers"


def test_a_node_that_does_not_answer_is_down():
    assert agent.verdict("http://127.0.0.1:9/", 60, 1, now=NOW).startswith("down #geth does not answer")
