import re
import shlex

from bizractl.lab import vm
from bizractl.lab.spec import LabHost, LabSpec

SPEC = LabSpec("mol-bm", "bizra-mol-bm", "10.89.50.0/24", (), network_gateway="10.89.50.254",
               network_subnet_v6="fd00:89:50::/64", network_gateway_v6="fd00:89:50::fe")
NODE = LabHost("node1", "10.89.50.10", kind="vm", address_v6="fd00:89:50::10")


def test_mac_address_is_stable_unicast_and_locally_administered():
    mac = vm.mac_address(SPEC, NODE)
    assert re.fullmatch(r"02(:[0-9a-f]{2}){5}", mac)
    assert mac == vm.mac_address(SPEC, LabHost("node1", "10.89.50.99"))
    assert mac != vm.mac_address(SPEC, LabHost("node2", "10.89.50.10"))


def test_guest_config_is_shell_assignments_the_guest_can_source():
    text = vm._guest_config(SPEC, NODE, "# podman\nnameserver 10.255.255.53\nsearch lab\nnameserver 10.0.0.2\n",
                            "ssh-ed25519 AAAAC3Nza bizra-lab\n")
    values = dict(line.split("=", 1) for line in text.splitlines())
    parsed = {key: shlex.split(value)[0] if value != "''" else "" for key, value in values.items()}
    assert parsed == {
        "LAB_HOSTNAME": "node1", "LAB_ADDRESS": "10.89.50.10/24", "LAB_GATEWAY": "10.89.50.254",
        "LAB_ADDRESS6": "fd00:89:50::10/64", "LAB_GATEWAY6": "fd00:89:50::fe",
        "LAB_NAMESERVERS": "10.255.255.53 10.0.0.2", "LAB_AUTHORIZED_KEY": "ssh-ed25519 AAAAC3Nza bizra-lab",
    }


def test_vm_image_digest_follows_the_vm_recipe_and_differs_from_the_container_image(monkeypatch, tmp_path):
    for name in vm.VM_RECIPE_FILES:
        (tmp_path / name).write_text(name)
    monkeypatch.setattr(vm.image, "RECIPE_DIR", tmp_path)
    before = vm.recipe_digest("bookworm")
    assert before != vm.recipe_digest("trixie")
    (tmp_path / "vm-setup.sh").write_text("changed")
    assert vm.recipe_digest("bookworm") != before
    assert vm.image_ref("bookworm").startswith("vm:bookworm-")


def test_a_vm_without_a_pidfile_is_not_running(monkeypatch, tmp_path):
    monkeypatch.setenv("BIZRA_LAB_HOME", str(tmp_path))
    assert not vm.running(SPEC, NODE)
    (vm.state_dir(SPEC, NODE)).mkdir(parents=True)
    (vm.state_dir(SPEC, NODE) / "qemu.pid").write_text("1\n")  # pid 1 is not this VM's qemu
    assert not vm.running(SPEC, NODE)


def test_removing_a_vm_keeps_its_console_log_and_drops_its_disks(monkeypatch, tmp_path):
    monkeypatch.setenv("BIZRA_LAB_HOME", str(tmp_path))
    directory = vm.state_dir(SPEC, NODE)
    directory.mkdir(parents=True)
    (directory / "disk.qcow2").write_bytes(b"disk")
    (directory / "console.log").write_text("Relabeling /\n")
    vm.stop(SPEC, NODE, remove_disk=True)
    assert not directory.exists()
    assert vm.last_console(SPEC, NODE).read_text() == "Relabeling /\n"


def test_tcg_runs_one_thread_per_vcpu_only_with_a_core_for_each():
    from bizractl.lab.vm import tcg_threading

    assert tcg_threading(3, 1) == "single"  # the VM tier pinned to one core
    assert tcg_threading(3, 2) == "single"
    assert tcg_threading(3, 3) == "multi"
    assert tcg_threading(2, 16) == "multi"
