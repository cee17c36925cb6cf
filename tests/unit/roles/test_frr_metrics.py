"""bizra-frr-metrics (role frr_bgp): FRR's BGP summary JSON to frr_exporter-named metrics."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "roles/frr_bgp/files/bizra-frr-metrics"
loader = importlib.machinery.SourceFileLoader("bizra_frr_metrics", str(SCRIPT))
spec = importlib.util.spec_from_loader("bizra_frr_metrics", loader)
frr_metrics = importlib.util.module_from_spec(spec)
loader.exec_module(frr_metrics)

SUMMARY = {"default": {
    "ipv4Unicast": {"routerId": "10.89.10.11", "as": 65000, "peers": {
        "10.89.10.12": {"remoteAs": 64512, "state": "Established", "pfxRcd": 3},
        "10.89.10.13": {"remoteAs": 64513, "state": "Active", "pfxRcd": 0},
    }},
    "ipv6Unicast": {"peers": {"fd00::12": {"remoteAs": 64512, "state": "Idle (Admin)"}}},
}}


def test_each_session_gets_its_state_and_prefix_count():
    lines = frr_metrics.metrics(SUMMARY)
    labels = 'vrf="default",afi="ipv4",safi="unicast",peer="10.89.10.12",peer_as="64512"'
    assert f"frr_bgp_peer_state{{{labels}}} 1" in lines
    assert f"frr_bgp_peer_prefixes_received_count_total{{{labels}}} 3" in lines
    assert 'frr_bgp_peer_state{vrf="default",afi="ipv4",safi="unicast",peer="10.89.10.13",peer_as="64513"} 0' in lines
    assert 'frr_bgp_peer_state{vrf="default",afi="ipv6",safi="unicast",peer="fd00::12",peer_as="64512"} 2' in lines


def test_the_file_is_valid_exposition_format_with_one_help_per_family():
    lines = frr_metrics.metrics(SUMMARY)
    assert [line for line in lines if line.startswith("# TYPE")] == [
        "# TYPE frr_bgp_peer_state gauge", "# TYPE frr_bgp_peer_prefixes_received_count_total gauge"]
    assert frr_metrics.metrics({}) == lines[:2] + lines[5:7]  # no peers: only the headers
