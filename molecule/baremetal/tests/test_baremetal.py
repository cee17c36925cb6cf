"""Bare-metal host layer on a real kernel (qemu VM booted through GRUB) and beside it a container.

Converge ran playbooks/storage.yml (a RAID10 over four of the VM's six NVMe disks, XFS on
/var/lib/geth), node_exporter, geth (its datadir on the array), then playbooks/baremetal.yml:
kernel_tuning wrote the tuned command line and selinux asked for a relabel (geth's file contexts
among them), the layer rebooted the VM once for both (the relabel boot then reboots by itself),
kernel_tuning verified the boot, selinux set enforcing, and the firewall came last with geth's
ports. So the array was made, and geth started on it, before two reboots.
"""

import json
import re

import pytest
from scenario_helpers import run_playbook, ssh_host

NODE, PROBE = "10.89.50.10", "10.89.50.20"
BAREMETAL = "../../playbooks/baremetal.yml"
STORAGE = "../../playbooks/storage.yml"
MEMBERS = ["BIZRALAB0000", "BIZRALAB0001", "BIZRALAB0002", "BIZRALAB0003"]
SPARE, DATA_DISK = "BIZRALAB0004", "BIZRALAB0005"
CHAIN = {"name": "chain", "level": "10", "disks": MEMBERS, "chunk_kib": 64, "filesystem": "xfs",
         "mount_point": "/var/lib/geth", "mode": "0755"}
WANTED_TOKENS = ["amd_pstate=active", "iommu=pt", "default_hugepagesz=2M", "hugepagesz=2M", "hugepages=64",
                 "transparent_hugepage=madvise", "mitigations=auto", "isolcpus=managed_irq,domain,2",
                 "nohz_full=2", "rcu_nocbs=2", "nosoftlockup", "security=selinux"]


@pytest.fixture(scope="module")
def node():
    return ssh_host(NODE)


@pytest.fixture(scope="module")
def probe():
    return ssh_host(PROBE)


def boot_id(host) -> str:
    return host.file("/proc/sys/kernel/random/boot_id").content_string.strip()


def by_id(serial: str) -> str:
    return f"/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_{serial}"


def md_detail(node) -> dict:
    lines = node.check_output("mdadm --detail --export /dev/md/chain").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def md_member_serials(node) -> list[str]:
    """Serials of the array's active members, read through udev (not the kernel names)."""
    md = node.check_output("basename $(readlink -f /dev/md/chain)")
    serials = []
    for entry in node.check_output(f"ls /sys/block/{md}/md/ | grep '^dev-' || true").split():
        if node.file(f"/sys/block/{md}/md/{entry}/state").content_string.strip() == "in_sync":
            serials.append(node.check_output(f"udevadm info --query=property --property=ID_SERIAL_SHORT "
                                             f"--value /dev/{entry[4:]}"))
    return sorted(serials)


def md_degraded(node) -> str:
    """Members the array misses (md's own count, /sys/block/mdX/md/degraded)."""
    return node.check_output("cat /sys/block/$(basename $(readlink -f /dev/md/chain))/md/degraded")


def storage_state(node) -> str:
    """What a refused storage run must leave as it was."""
    return node.check_output("sha256sum /etc/mdadm/mdadm.conf /etc/fstab /etc/udev/rules.d/69-bizra-storage.rules;"
                             " mdadm --detail --export /dev/md/chain | sort")


def md_metric(node, name: str, **labels) -> float:
    """A node_exporter sample of the array (its mdadm collector)."""
    text = node.check_output("python3 -c \"import urllib.request; print(urllib.request.urlopen("
                             "'http://127.0.0.1:9100/metrics', timeout=10).read().decode())\"")
    wanted = ",".join(f'{k}="{v}"' for k, v in {"device": "md127", **labels}.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and all(part in line for part in wanted.split(",")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{wanted}}} in node_exporter's metrics")


def test_the_raid10_made_before_the_reboots_assembles_under_its_name_and_mounts(node):
    detail = md_detail(node)
    assert (detail["MD_LEVEL"], detail["MD_DEVICES"], detail["MD_NAME"].split(":")[-1]) == ("raid10", "4", "chain")
    assert md_member_serials(node) == MEMBERS
    # Made before this boot: the arrays came back from mdadm.conf (by UUID), not re-created.
    assert node.run("test $(date -d \"$(mdadm --detail /dev/md/chain | sed -n 's/.*Creation Time : //p')\" +%s)"
                    " -lt $(date -d \"$(uptime -s)\" +%s)").rc == 0
    arrays = [line for line in node.file("/etc/mdadm/mdadm.conf").content_string.splitlines()
              if line.startswith("ARRAY")]
    assert arrays == [f"ARRAY /dev/md/chain metadata=1.2 UUID={detail['MD_UUID']} name={detail['MD_NAME']}"]
    # The initramfs was rebuilt after mdadm.conf last changed, and carries it.
    release = node.check_output("uname -r")
    assert node.run(f"test /boot/initrd.img-{release} -nt /etc/mdadm/mdadm.conf").rc == 0
    assert "etc/mdadm/mdadm.conf" in node.check_output(f"lsinitramfs /boot/initrd.img-{release}")
    uuid = node.check_output("blkid -o value -s UUID /dev/md/chain")
    # nofail: a host whose array does not assemble boots to SSH (the services wait for their mount).
    fstab = node.file("/etc/fstab").content_string
    assert f"UUID={uuid} /var/lib/geth xfs noatime,nofail,x-systemd.device-timeout=10min 0 0" in fstab
    assert node.check_output("findmnt -n -o FSTYPE,OPTIONS /var/lib/geth").startswith("xfs ")
    # XFS aligned to the array: 64 KiB chunk = 16 blocks of 4 KiB, two data disks = 32.
    assert re.search(r"sunit=16\s+swidth=32 blks", node.check_output("xfs_info /var/lib/geth"))


def test_nvme_tuning_is_applied_to_the_members_after_the_reboots(node):
    for serial in MEMBERS:
        queue = f"/sys/block/{node.check_output(f'basename $(readlink -f {by_id(serial)})')}/queue"
        assert node.file(f"{queue}/read_ahead_kb").content_string.strip() == "64", serial
        assert "[none]" in node.file(f"{queue}/scheduler").content_string, serial
        assert node.file(f"{queue}/nr_requests").content_string.strip() == "1023", serial
    spare = node.check_output(f"basename $(readlink -f {by_id(SPARE)})")
    assert node.file(f"/sys/block/{spare}/queue/read_ahead_kb").content_string.strip() == "128", "not a member"
    assert node.check_output("sysctl -n dev.raid.speed_limit_min dev.raid.speed_limit_max").split() == \
        ["50000", "2000000"]


def test_check_mode_on_the_converged_hosts_changes_nothing():
    # The whole converge in one run (the arrays, node_exporter, the bare-metal layer), before the
    # replace flow below changes the array's members.
    code, output, recap = run_playbook("converge.yml", "--check", "--diff")
    assert code == 0, output[-3000:]
    assert {host: counts["changed"] for host, counts in recap.items()} == {"localhost": 0, "node1": 0, "probe": 0}
    flat = " ".join(output.split())
    assert "PLAY [Converge the md arrays and their filesystems]" in flat
    assert "PLAY [Converge the geth nodes one at a time]" in flat
    assert "exposes no CPU frequency scaling" in flat
    assert "kernel_tuning: probe is a container (podman)" in flat


def test_a_container_with_arrays_declared_reports_and_changes_nothing(probe):
    code, output, recap = run_playbook(STORAGE, "--limit", "probe", "-e", json.dumps({"storage_arrays": [CHAIN]}))
    assert code == 0, output[-3000:]
    assert "storage: probe is a container (podman): its disks belong to the machine it runs on. Nothing changed." \
        in " ".join(output.split())
    assert recap["probe"]["changed"] == 0
    assert not probe.file("/etc/udev/rules.d/69-bizra-storage.rules").exists


def test_a_disk_with_data_is_never_touched_and_the_array_is_refused_naming_it(node):
    node.check_output(f"mkfs.ext4 -q -F -L keep {by_id(DATA_DISK)} && mkdir -p /mnt/keep && "
                      f"mount {by_id(DATA_DISK)} /mnt/keep && echo ledger > /mnt/keep/ledger && umount /mnt/keep")
    checksums = f"sha256sum {by_id(DATA_DISK)} {by_id(SPARE)}"
    before, state = node.check_output(checksums), storage_state(node)
    scratch = {"name": "scratch", "level": "1", "disks": [DATA_DISK, SPARE]}
    code, output, recap = run_playbook(STORAGE, "--limit", "node1", "-e",
                                       json.dumps({"storage_arrays": [CHAIN, scratch]}))
    flat = " ".join(output.split())
    assert code != 0
    assert re.search(r"array scratch: disk /dev/nvme\dn1 \(serial BIZRALAB0005\) carries ext4 \(label keep\): "
                     r"not touched \(safe mode\)\. List BIZRALAB0005 in storage_wipe_serials", flat), flat[-3000:]
    assert recap["node1"]["changed"] == 0
    assert node.check_output(checksums) == before
    assert storage_state(node) == state


@pytest.mark.parametrize(("arrays", "messages"), [
    # types and choices: the argument spec
    ([{**CHAIN, "level": "5", "filesystem": "zfs"}], ["got: 5", "got: zfs"]),
    # the role's rules, every one at once
    ([{**CHAIN, "disks": [*MEMBERS[:2], MEMBERS[0]], "chunk_kib": 500}],
     ["RAID10 needs an even number of disks, 3 declared", "disk 'BIZRALAB0000' is listed 2 times",
      "chunk_kib 500 must be a power of two from 4 to 65536", "RAID10 needs at least 4 disks, 3 declared"]),
    # the host's disks
    ([{**CHAIN, "disks": [*MEMBERS[:3], "NOPE0001"]}],
     ["array chain: no disk has the serial or by-id name 'NOPE0001' (serials here: BIZRALAB0000,"]),
])
def test_bad_storage_input_is_refused_before_any_disk_is_touched(node, arrays, messages):
    state = storage_state(node)
    code, output, recap = run_playbook(STORAGE, "--limit", "node1", "-e", json.dumps({"storage_arrays": arrays}))
    flat = " ".join(output.split())
    assert code != 0
    assert [m for m in messages if m not in flat] == [], flat[-3000:]
    assert recap["node1"]["changed"] == 0
    assert storage_state(node) == state


def test_a_failed_member_is_reported_and_the_replace_flow_rebuilds_onto_the_spare(node):
    uuid = md_detail(node)["MD_UUID"]
    node.check_output(f"mdadm /dev/md/chain --fail {by_id(MEMBERS[2])} --remove {by_id(MEMBERS[2])}")
    # The RAID alert's input (RaidArrayDegraded: required - active > 0; promtool covers the rule).
    assert md_metric(node, "node_md_disks_required") - md_metric(node, "node_md_disks", state="active") == 1
    state = storage_state(node)
    code, output, recap = run_playbook(STORAGE, "--limit", "node1")
    flat = " ".join(output.split())
    assert code != 0
    assert "array chain (/dev/md127): DEGRADED (1 of 4 members missing); declared members not active: " \
           "BIZRALAB0002. Nothing changed" in flat, flat[-3000:]
    assert recap["node1"]["changed"] == 0 and storage_state(node) == state

    replace = ["-e", "raid_replace_array=chain", "-e", f"raid_replace_old_serial={MEMBERS[2]}",
               "-e", f"raid_replace_new_serial={SPARE}"]
    code, output, _ = run_playbook("../../playbooks/incident/raid_replace_disk.yml", "--limit", "node1", *replace)
    assert code != 0 and "raid_replace_disk writes disk BIZRALAB0004 on node1: confirm by typing the target's name, " \
        "-e incident_confirm=node1" in " ".join(output.split())
    assert md_degraded(node) == "1"

    code, output, _ = run_playbook("../../playbooks/incident/raid_replace_disk.yml", "--limit", "node1", *replace,
                                   "-e", "incident_confirm=node1")
    flat = " ".join(output.split())
    assert code == 0, flat[-3000:]
    assert "rebuilt, clean. Now replace BIZRALAB0002 by BIZRALAB0004 in storage_arrays" in flat
    detail = md_detail(node)
    assert (detail["MD_UUID"], md_degraded(node)) == (uuid, "0"), "the same array, rebuilt"
    assert md_member_serials(node) == sorted([*MEMBERS[:2], MEMBERS[3], SPARE])
    assert md_metric(node, "node_md_disks", state="active") == 4

    # The inventory updated, the role converges again and then changes nothing.
    replaced = {**CHAIN, "disks": [*MEMBERS[:2], SPARE, MEMBERS[3]]}
    for _ in range(2):
        code, output, recap = run_playbook(STORAGE, "--limit", "node1",
                                           "-e", json.dumps({"storage_arrays": [replaced]}))
        assert code == 0, output[-3000:]
    assert recap["node1"]["changed"] == 0


def test_the_layer_rebooted_once_for_both_roles(node):
    # Boots since converge began: the one it found, the layer's one reboot, and the relabel boot
    # (selinux-autorelabel relabels, then reboots by itself). Each role rebooting on its own, as
    # before, made it four: kernel_tuning's reboot, then selinux's reboot and its relabel boot.
    # (The base image's own first boot may be in the journal too: count from converge's boot.)
    first = node.file("/root/bizra-test-converge-boot").content_string.strip()
    boots = [line.split()[1] for line in node.check_output("journalctl --list-boots --no-pager").splitlines()
             if re.match(r"^\s*-?\d+\s+[0-9a-f]{32}\s", line)]
    assert first in boots, boots
    assert len(boots[boots.index(first):]) == 3, boots


def test_the_vm_boots_debian_6_1_through_grub_with_the_tuned_command_line(node):
    cmdline = node.file("/proc/cmdline").content_string.split()
    assert cmdline[0].startswith("BOOT_IMAGE=/boot/vmlinuz-6.1."), "booted by GRUB, Debian 12's kernel"
    assert [token for token in WANTED_TOKENS if token not in cmdline] == []
    # The inventory named the kernel: GRUB's default points at its entry, by title.
    release = node.check_output("uname -r")
    assert f'set default="Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux {release}"' in \
        node.file("/boot/grub/grub.cfg").content_string


def test_huge_pages_are_reserved_and_cpu_2_is_isolated(node):
    meminfo = node.file("/proc/meminfo").content_string
    assert re.search(r"^HugePages_Total:\s+64$", meminfo, re.M)
    assert re.search(r"^Hugepagesize:\s+2048 kB$", meminfo, re.M)
    assert node.file("/sys/devices/system/cpu/isolated").content_string.strip() == "2"
    assert node.file("/sys/devices/system/cpu/nohz_full").content_string.strip() == "2"
    assert "[madvise]" in node.file("/sys/kernel/mm/transparent_hugepage/enabled").content_string


def test_sysctls_are_live_and_only_the_kernels_own_keys_are_written(node):
    live = node.check_output("sysctl -n net.core.somaxconn vm.swappiness net.ipv4.tcp_rmem fs.aio-max-nr").split("\n")
    assert [" ".join(v.split()) for v in live] == ["32768", "1", "4096 87380 134217728", "1048576"]
    profile = node.file("/etc/sysctl.d/90-bizra-kernel-tuning.conf").content_string
    # 6.1 has no io_uring switch (6.6+): the optional key is left out, not an error.
    assert "kernel.io_uring_disabled" not in profile
    assert "net.core.somaxconn = 32768" in profile


def test_service_limits_apply_to_the_running_service(node):
    pid = node.check_output("systemctl show -p MainPID --value ssh")
    limits = node.file(f"/proc/{pid}/limits").content_string
    assert re.search(r"^Max open files\s+65536\s+65536", limits, re.M)
    assert re.search(r"^Max locked memory\s+unlimited\s+unlimited", limits, re.M)


def test_selinux_is_enforcing_with_the_reference_policy(node):
    assert node.check_output("getenforce") == "Enforcing"
    status = node.check_output("sestatus")
    assert re.search(r"Loaded policy name:\s+default", status)
    assert re.search(r"Mode from config file:\s+enforcing", status)
    assert not node.file("/.autorelabel").exists, "the relabel ran"


def test_services_still_start_under_enforcing(node):
    for unit in ("ssh", "nftables", "auditd", "systemd-journald", "systemd-logind"):
        node.check_output(f"systemctl restart {unit}")
        assert node.service(unit).is_running, unit
    assert node.check_output("systemctl --failed --no-legend --plain") == ""
    assert node.check_output("ps -o label= -p $(systemctl show -p MainPID --value ssh)").startswith(
        "system_u:system_r:sshd_t")


def test_data_directories_and_ports_carry_their_labels(node):
    # From the inventory (Geth datadir) and from a service drop-in (PostgreSQL data, port).
    assert ":var_lib_t:" in node.check_output("stat -c %C /var/lib/geth/chaindata")
    assert ":postgresql_db_t:" in node.check_output("stat -c %C /srv/pgdata")
    assert re.search(r"^postgresql_port_t\s+tcp\s+.*\b5433\b", node.check_output("semanage port -l"), re.M)
    assert node.check_output("getsebool allow_ssh_keysign") == "allow_ssh_keysign --> on"
    assert node.check_output("getsebool allow_execmem") == "allow_execmem --> off"


def test_the_firewall_runs_under_selinux_and_lets_the_admin_probe_in(node, probe):
    assert "policy drop" in node.check_output("nft list chain inet bizra_firewall input")
    probe.check_output(f"timeout 5 bash -c '</dev/tcp/{NODE}/22'")


def test_the_container_beside_it_is_left_alone(probe):
    for path in ("/etc/default/grub.d/90-bizra-kernel-tuning.cfg", "/etc/sysctl.d/90-bizra-kernel-tuning.conf",
                 "/etc/default/grub.d/80-bizra-selinux.cfg"):
        assert not probe.file(path).exists, path


def test_a_command_line_change_waits_for_a_reboot_the_inventory_does_not_allow(node):
    before = boot_id(node)
    code, output, _ = run_playbook(BAREMETAL, "--limit", "node1", "-e", "kernel_tuning_reboot_ok=false",
                                   "-e", '{"kernel_tuning_cmdline_extra": ["nosoftlockup", "panic=30"]}')
    try:
        assert code == 0, output[-3000:]
        assert "needs a reboot to boot with add panic=30" in " ".join(output.split())
        assert boot_id(node) == before
        assert "panic=30" in node.file("/boot/grub/grub.cfg").content_string
        assert "panic=30" not in node.file("/proc/cmdline").content_string
    finally:
        # Taken back before any reboot: GRUB is restored and no reboot is owed.
        code, output, _ = run_playbook(BAREMETAL, "--limit", "node1", "-e", "kernel_tuning_reboot_ok=false")
    assert code == 0, output[-3000:]
    assert "needs a reboot to boot with" not in " ".join(output.split())
    assert "panic=30" not in node.file("/boot/grub/grub.cfg").content_string
    assert boot_id(node) == before


@pytest.mark.parametrize(("extra_vars", "messages"), [
    ('{"kernel_tuning_hugepages_count": 100000, "kernel_tuning_isolated_cpus": "0-2",'
     ' "kernel_tuning_cmdline_extra": ["hugepages=8", "bad token"]}',
     ["kernel_tuning_hugepages_count 100000 x 2M (200000 MiB) leaves less than 10% of the",
      "kernel_tuning_isolated_cpus '0-2' must name CPUs below 3 (this host has 3) and leave one for the system",
      "kernel_tuning_cmdline_extra ['bad token'] are not key or key=value tokens",
      "kernel_tuning_cmdline_extra sets ['hugepages'], which the role sets from its own variables"]),
    # types and choices: the argument spec of the `validate` entry point, every error at once
    ('{"kernel_tuning_amd_pstate": "turbo", "kernel_tuning_hugepages_count": "lots"}',
     ["value of kernel_tuning_amd_pstate must be one of: , active, passive, guided, got: turbo",
      "argument 'kernel_tuning_hugepages_count' is of type str and we were unable to convert to int"]),
    ('{"selinux_ports": [{"ports": ["70000"], "proto": "tcp", "setype": "http_port_t"}],'
     ' "selinux_fcontexts": [{"target": "srv/x", "setype": "var_lib_t"}]}',
     ["selinux port labels name ['70000'], which are not ports or ranges in 1..65535",
      "selinux file contexts [{'target': 'srv/x', 'setype': 'var_lib_t'}] need target"]),
])
def test_bad_input_is_refused_before_anything_changes(node, extra_vars, messages):
    watched = ("/etc/default/grub.d/90-bizra-kernel-tuning.cfg /etc/selinux/config "
               "/etc/sysctl.d/90-bizra-kernel-tuning.conf")
    before = node.check_output(f"sha256sum {watched}")
    code, output, recap = run_playbook(BAREMETAL, "--limit", "node1", "-e", extra_vars)
    assert code != 0
    flat = " ".join(output.split())
    assert [m for m in messages if m not in flat] == [], flat[-3000:]
    assert recap["node1"]["changed"] == 0
    assert node.check_output(f"sha256sum {watched}") == before


def test_geth_came_back_under_enforcing_with_its_chain_on_the_raid10(node):
    # Converged before the layer, geth started again in each boot since; restarted here, it starts
    # under enforcing.
    assert node.check_output("getenforce") == "Enforcing"
    node.check_output("systemctl restart geth")
    for unit in ("geth", "geth-health-agent"):
        assert node.service(unit).is_running, unit
    # The chain lives on the array, labelled as geth's drop-in asks, and so do the binaries.
    assert node.check_output("findmnt -n -o SOURCE --target /var/lib/geth/node") == \
        node.check_output("readlink -f /dev/md/chain")
    assert ":var_lib_t:" in node.check_output("stat -c %C /var/lib/geth/node/geth/chaindata")
    assert ":bin_t:" in node.check_output("stat -L -c %C /opt/geth/current/geth")
    assert node.check_output("stat -c %U /var/lib/geth/node/geth/chaindata") == "geth"
    # geth's shutdown threshold follows its caches, not geth's 1 GiB default (more than this array
    # has free: geth stopped itself right after its first start here before the role set it).
    assert "--datadir.minfreedisk 128" in node.check_output("systemctl show -p ExecStart --value geth")
    # It serves the private chain (its RPC answers once the restart is done: up to a minute here).
    chain_id = node.check_output(
        "for try in $(seq 30); do python3 -c \"import json, urllib.request; print(json.load(urllib.request.urlopen("
        "urllib.request.Request('http://127.0.0.1:8545', b'{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"id\\\":1,"
        "\\\"method\\\":\\\"eth_chainId\\\",\\\"params\\\":[]}', {'Content-Type': 'application/json'}),"
        " timeout=10))['result'])\" 2>/dev/null && break; sleep 2; done")
    assert chain_id and int(chain_id, 16) == 31337
    # Started by systemd (Debian's reference policy has no geth domain: a unit whose binary has no
    # domain of its own runs in systemd's, init_t), and the kernel denied it nothing in any boot.
    label = node.check_output("ps -o label= -p $(systemctl show -p MainPID --value geth)")
    print("geth runs as", label)
    assert label.startswith("system_u:system_r:"), label
    denials = node.run("ausearch -m AVC,USER_AVC -i")  # exit 1 and "<no matches>": the log has none at all
    assert denials.rc == 0 or (denials.rc == 1 and "<no matches>" in denials.stderr), denials.stderr
    assert [line for line in denials.stdout.splitlines() if "geth" in line] == []
    # The firewall merged geth's export: p2p open to all.
    assert "30303" in node.check_output("nft list chain inet bizra_firewall input")
