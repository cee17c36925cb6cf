from pathlib import Path

from plugins.module_utils.kernel_state import kernel_state, normalize


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_host(root: Path, cpufreq: bool) -> None:
    write(root, "proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz root=UUID=x ro hugepages=64 iommu=pt\n")
    write(root, "proc/sys/kernel/osrelease", "6.1.0-50-amd64\n")
    write(root, "proc/sys/kernel/random/boot_id", "abc\n")
    write(root, "proc/sys/vm/swappiness", "1\n")
    write(root, "proc/sys/net/ipv4/tcp_rmem", "4096\t87380\t134217728\n")
    write(root, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "64\n")
    write(root, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n")
    write(root, "sys/devices/system/cpu/cpu0/online", "1\n")
    write(root, "sys/devices/system/cpu/cpu1/online", "1\n")
    if cpufreq:
        for cpu in ("cpu0", "cpu1"):
            write(root, f"sys/devices/system/cpu/{cpu}/cpufreq/scaling_governor", "powersave\n")
            write(root, f"sys/devices/system/cpu/{cpu}/cpufreq/energy_performance_preference", "balance_power\n")
        write(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_driver", "amd-pstate-epp\n")
        write(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_available_governors", "performance powersave\n")


def test_kernel_state_of_a_vm(tmp_path):
    fake_host(tmp_path, cpufreq=False)
    state = kernel_state(str(tmp_path), ["vm.swappiness", "net.ipv4.tcp_rmem", "kernel.io_uring_disabled"])
    assert state["release"] == "6.1.0-50-amd64"
    assert state["sysctls"] == {"vm.swappiness": "1", "net.ipv4.tcp_rmem": "4096 87380 134217728"}
    assert state["missing_sysctls"] == ["kernel.io_uring_disabled"]
    assert state["hugepages"] == {"2M": 64, "1G": 0}
    assert state["cpufreq"]["exposed"] is False
    assert state["boot_id"] == "abc"


def test_kernel_state_of_an_epyc_with_amd_pstate(tmp_path):
    fake_host(tmp_path, cpufreq=True)
    scaling = kernel_state(str(tmp_path), [])["cpufreq"]
    assert scaling == {"exposed": True, "driver": "amd-pstate-epp", "governors": ["powersave"],
                       "available_governors": ["performance", "powersave"],
                       "energy_performance_preferences": ["balance_power"]}


def test_sysctl_values_are_whitespace_normalized():
    assert normalize("4096\t87380  6291456\n") == "4096 87380 6291456"
