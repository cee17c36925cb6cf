"""kibana.yml (role kibana), rendered by Ansible from the role's defaults for a host of a three-node
logging cluster: TLS on Kibana's own port, the cluster's HTTPS URLs verified against the CA, and
no credential in the file (the service account token lives in Kibana's keystore). Kibana cannot
be installed here; its data views are tested against the API stand-in (test_kibana.py)."""

from __future__ import annotations

import yaml

from tests.unit.roles.role_template import render_role_template


def test_kibana_yml_has_tls_both_ways_and_no_credential(tmp_path):
    variables = {"kibana_server_host": "10.20.4.21", "kibana_elasticsearch_password": "canary-elastic-5c1d",
                 "kibana_elasticsearch_hosts": ["https://10.20.4.11:9200", "https://10.20.4.12:9200"]}
    text = render_role_template("kibana", "etc/kibana/kibana.yml.j2", tmp_path / "kibana.yml", variables)
    config = yaml.safe_load(text)
    assert (config["server.host"], config["server.port"]) == ("10.20.4.21", 5601)
    assert config["server.publicBaseUrl"] == "https://10.20.4.21:5601"
    assert config["server.ssl.enabled"] is True
    assert (config["server.ssl.certificate"], config["server.ssl.key"]) == ("/etc/kibana/certs/server.crt",
                                                                           "/etc/kibana/certs/server.key")
    assert config["elasticsearch.hosts"] == ["https://10.20.4.11:9200", "https://10.20.4.12:9200"]
    assert config["elasticsearch.ssl.certificateAuthorities"] == ["/etc/kibana/certs/ca.crt"]
    assert config["elasticsearch.ssl.verificationMode"] == "full"
    assert "canary-elastic-5c1d" not in text
    assert not [key for key in config if "password" in key or "username" in key]
