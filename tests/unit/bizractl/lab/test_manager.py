import re

import pytest

from bizractl.errors import LabError
from bizractl.lab.manager import check_subnet_is_free, ensure_inotify_instances
from bizractl.lab.spec import LabHost, LabSpec

ROUTES = [
    {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
    {"dst": "192.0.2.0/24", "dev": "eth0"},
    {"dst": "10.89.10.0/24", "dev": "podman1"},  # another lab network: not the machine's
]


def spec(subnet: str) -> LabSpec:
    return LabSpec("t", "t-net", subnet, (LabHost("a", "0.0.0.0"),))


def test_free_subnet_passes():
    check_subnet_is_free(spec("10.89.30.0/24"), ROUTES, {"deb.debian.org": "203.0.113.80"})


def test_subnet_over_the_uplink_is_refused():
    with pytest.raises(LabError, match=re.escape("overlaps the machine's network 192.0.2.0/24 on eth0")):
        check_subnet_is_free(spec("192.0.2.0/25"), ROUTES, {})


def test_subnet_holding_the_mirror_is_refused():
    with pytest.raises(LabError, match=re.escape("contains 203.0.113.80, the address of deb.debian.org")):
        check_subnet_is_free(spec("203.0.113.0/24"), ROUTES, {"deb.debian.org": "203.0.113.80"})


def test_ipv6_subnet_over_the_machine_network_is_refused():
    lab = LabSpec("t", "t-net", "10.89.30.0/24", (LabHost("a", "0.0.0.0"),), network_subnet_v6="fd00::/64")
    with pytest.raises(LabError, match=re.escape("lab_network_subnet_v6 fd00::/64 overlaps the machine's network")):
        check_subnet_is_free(lab, [*ROUTES, {"dst": "fd00::/64", "dev": "eth0"}], {})


def test_inotify_instances_are_left_alone_when_they_suffice(tmp_path):
    setting = tmp_path / "max_user_instances"
    setting.write_text("128\n")
    logged = []
    ensure_inotify_instances(10, logged.append, setting)
    assert setting.read_text() == "128\n" and logged == []


def test_inotify_instances_are_raised_for_a_large_lab(tmp_path):
    setting = tmp_path / "max_user_instances"
    setting.write_text("128\n")
    logged = []
    ensure_inotify_instances(32, logged.append, setting)
    assert setting.read_text() == "1024\n"
    assert logged == ["raised fs.inotify.max_user_instances from 128 to 1024 for 32 systemd containers"]


def test_inotify_instances_that_cannot_be_raised_name_the_command(tmp_path, monkeypatch):
    setting = tmp_path / "max_user_instances"
    setting.write_text("128\n")

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(setting), "write_text", refuse)
    with pytest.raises(LabError, match=re.escape(
            "need fs.inotify.max_user_instances >= 384 (it is 128) and it cannot be raised from here "
            "(Permission denied): run `sudo sysctl -w fs.inotify.max_user_instances=1024`")):
        ensure_inotify_instances(32, lambda _: None, setting)
