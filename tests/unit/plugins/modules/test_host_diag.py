"""The diagnostics bundle's redaction (on the host, before anything leaves it) and the status
module's parsing of /proc/mdstat."""

from plugins.modules import host_status
from plugins.modules.host_diag import redact


def test_secrets_in_every_config_shape_are_redacted_and_the_rest_kept():
    text = "\n".join([
        "primary_conninfo = 'host=10.89.10.31 user=replicator password=S3cretRepl sslmode=verify-full'",
        "  neighbor 203.0.113.1 password Tr4nsitA",
        "routing_key: 0123456789abcdef",
        '"api_key": "k-123", "url": "https://hooks.example/x"',
        "repo1-cipher-pass=CipherPass1",
        "Authorization: Bearer eyJhbGciOi",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
        "shared_buffers = 128MB",
        "listen_addresses = '10.89.10.31'",
    ])
    out = redact(text)
    for secret in ("S3cretRepl", "Tr4nsitA", "0123456789abcdef", "k-123", "CipherPass1", "eyJhbGciOi",
                   "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"):
        assert secret not in out, secret
    assert "host=10.89.10.31 user=replicator password=<redacted> sslmode=verify-full" in out
    assert "neighbor 203.0.113.1 password <redacted>" in out
    assert "<redacted private key>" in out
    assert "shared_buffers = 128MB" in out and "listen_addresses = '10.89.10.31'" in out
    assert "https://hooks.example/x" in out


def test_raid_state_from_mdstat(tmp_path, monkeypatch):
    mdstat = tmp_path / "mdstat"
    mdstat.write_text(
        "Personalities : [raid10]\n"
        "md0 : active raid10 nvme3n1[3] nvme2n1[2] nvme1n1[1] nvme0n1[0]\n"
        "      3750481920 blocks super 1.2 512K chunks 2 near-copies [4/4] [UUUU]\n\n"
        "md1 : active raid10 nvme7n1[3] nvme6n1[2] nvme5n1[1]\n"
        "      3750481920 blocks super 1.2 512K chunks 2 near-copies [4/3] [UUU_]\n"
        "      [===>.................]  recovery = 17.1% (321/1875) finish=12.1min\n\n"
        "unused devices: <none>\n")
    real_open = open
    monkeypatch.setattr(host_status.os.path, "exists", lambda path: True)
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(mdstat if path == "/proc/mdstat" else path,
                                                                         *a, **k))
    raid = host_status._raid()
    assert raid["arrays"] == {"md0": "clean", "md1": "degraded [UUU_]"}
    assert raid["health"] == "crit" and raid["recovering"] is True
