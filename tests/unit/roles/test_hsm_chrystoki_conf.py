"""Chrystoki.conf (role hsm_client, provider luna): rendered by Ansible from the role's defaults
and an inventory like production's: servers, the client's identity, HA groups, timeouts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.roles.role_template import render_role_template

SERVERS = [{"name": "luna-a", "address": "10.20.7.11", "fingerprint": "ab" * 32},
           {"name": "luna-b", "address": "10.21.7.11", "port": 1793, "fingerprint": "cd" * 32}]
PARTITIONS = [
    {"label": "trading-operations", "key_types": ["secp256k1"], "m_of_n": {"m": 3, "n": 5},
     "serials": ["1238696044963", "1238696044964"]},
    {"label": "user-authentication", "key_types": ["rsa-2048"], "m_of_n": {"m": 2, "n": 3},
     "serials": ["1238696044965"]},
]


def render(tmp_path: Path, **overrides) -> str:
    variables = {"hsm_client_provider": "luna", "hsm_client_servers": SERVERS, "hsm_client_partitions": PARTITIONS,
                 "hsm_client_luna_client_name": "signer-fra-1", **overrides}
    return render_role_template("hsm_client", "etc/Chrystoki.conf.j2", tmp_path / "Chrystoki.conf", variables)


def section(text: str, name: str) -> dict[str, str]:
    body = re.search(rf"^{re.escape(name)} = \{{\n(.*?)^\}}", text, re.MULTILINE | re.DOTALL)
    assert body, f"no section {name}:\n{text}"
    return dict(re.findall(r"^\s+(.+?) = (.*);$", body[1], re.MULTILINE))


def test_servers_identity_and_timeouts(tmp_path):
    text = render(tmp_path)
    client = section(text, "LunaSA Client")
    assert (client["ServerName00"], client["ServerPort00"], client["ServerHtl00"]) == ("10.20.7.11", "1792", "0")
    assert (client["ServerName01"], client["ServerPort01"]) == ("10.21.7.11", "1793")
    assert "ServerName02" not in client
    assert client["ClientCertFile"] == "/usr/safenet/lunaclient/cert/client/signer-fra-1.pem"
    assert client["ClientPrivKeyFile"] == "/usr/safenet/lunaclient/cert/client/signer-fra-1Key.pem"
    assert client["ServerCAFile"] == "/usr/safenet/lunaclient/cert/server/CAFile.pem"
    assert section(text, "Chrystoki2") == {"LibUNIX64": "/usr/safenet/lunaclient/lib/libCryptoki2_64.so"}
    assert section(text, "Luna")["DefaultTimeOut"] == "500000"
    assert render(tmp_path, hsm_client_luna_receive_timeout=5000).count("ReceiveTimeout = 5000;") == 1


def test_ha_groups_for_partitions_on_several_appliances_only(tmp_path):
    text = render(tmp_path)
    virtual = section(text, "VirtualToken")
    assert virtual == {"VirtualToken00Label": "trading-operations", "VirtualToken00SN": "11238696044963",
                       "VirtualToken00Members": "1238696044963,1238696044964",
                       "VirtualTokenActiveRecovery": "activeEnhanced"}
    assert section(text, "HAConfiguration") == {"haLogStatus": "enabled", "reconnAtt": "-1",
                                                "AutoReconnectInterval": "60", "HAOnly": "1"}
    assert section(text, "HASynchronize") == {"trading-operations": "1"}
    assert section(render(tmp_path, hsm_client_ha_only=False), "HAConfiguration")["HAOnly"] == "0"


@pytest.mark.parametrize("partitions", [[{**PARTITIONS[1]}], []])
def test_no_ha_sections_without_a_partition_on_two_appliances(tmp_path, partitions):
    text = render(tmp_path, hsm_client_partitions=partitions)
    assert "VirtualToken" not in text and "HAConfiguration" not in text
