"""bizra-hsm-ntls-check (role hsm_client): the textfile metric per HSM appliance."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import socket
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles/hsm_client/files/bizra-hsm-ntls-check"
loader = importlib.machinery.SourceFileLoader("bizra_hsm_ntls_check", str(SCRIPT))
spec = importlib.util.spec_from_loader("bizra_hsm_ntls_check", loader)
check = importlib.util.module_from_spec(spec)
loader.exec_module(check)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


def test_reachable_and_unreachable_appliances(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        output = tmp_path / "bizra_hsm.prom"
        down = closed_port()
        assert check.main(["--output", str(output), "--timeout", "1",
                           f"luna-a=127.0.0.1:{port}", f"luna-b=127.0.0.1:{down}"]) == 0
    text = output.read_text()
    assert f'bizra_hsm_ntls_reachable{{hsm="luna-a",address="127.0.0.1:{port}"}} 1' in text
    assert f'bizra_hsm_ntls_reachable{{hsm="luna-b",address="127.0.0.1:{down}"}} 0' in text
    assert "# TYPE bizra_hsm_ntls_reachable gauge" in text
    assert output.stat().st_mode & 0o777 == 0o644
    assert [path.name for path in tmp_path.iterdir()] == ["bizra_hsm.prom"]  # no temporary file left


def test_ipv6_address_in_brackets():
    assert check.parse_target("luna-a=[fd00::7]:1792") == ("luna-a", "fd00::7", 1792)


@pytest.mark.parametrize("text", ["luna-a", "luna-a=10.0.0.1", "=10.0.0.1:1792", "luna-a=10.0.0.1:port"])
def test_bad_target_is_refused(text):
    with pytest.raises(Exception, match="NAME=ADDRESS:PORT"):
        check.parse_target(text)


def test_label_values_are_escaped():
    assert check.label('a"b\\c') == 'a\\"b\\\\c'
