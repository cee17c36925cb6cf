import pytest

from plugins.plugin_utils.kernel import expand_cpu_list, sysctl_drift


@pytest.mark.parametrize(("text", "expected"), [
    ("", []),
    ("3", [3]),
    ("2-4,7", [2, 3, 4, 7]),
    ("4-7,6", [4, 5, 6, 7]),
    ("7-4", None),
    ("2-", None),
    ("a-b", None),
    ("1, 2", None),
])
def test_expand_cpu_list(text, expected):
    assert expand_cpu_list(text) == expected


def test_sysctl_drift_compares_normalized_values_of_keys_the_kernel_has():
    wanted = {"vm.swappiness": 1, "net.ipv4.tcp_rmem": "4096 87380  134217728", "kernel.io_uring_disabled": 0,
              "net.core.somaxconn": 65535}
    live = {"vm.swappiness": "60", "net.ipv4.tcp_rmem": "4096\t87380\t134217728", "net.core.somaxconn": "65535"}
    assert sysctl_drift(wanted, live) == ["vm.swappiness"]
