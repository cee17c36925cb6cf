"""base: behaviour on a converged host, checked from outside where it matters (real SSH)."""

import os
import subprocess
from pathlib import Path

import testinfra.utils.ansible_runner
from scenario_helpers import assert_nothing_changed, inventory_dir, run_playbook

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(str(inventory_dir())).get_hosts("all")

LAB_KEY = Path(os.environ.get("BIZRA_LAB_HOME") or Path.home() / ".local/share/bizra/lab") / "ssh/id_ed25519"
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]


def _address(host) -> str:
    return host.ansible.get_variables()["ansible_host"]


def test_hostname_and_time_zone(host):
    assert host.check_output("hostname") == host.ansible.get_variables()["inventory_hostname"]
    assert host.check_output("timedatectl show -p Timezone --value") == "Europe/Zurich"


def test_chrony_runs_with_declared_sources_without_steering_the_clock(host):
    assert host.service("chrony").is_running
    assert host.service("chrony").is_enabled
    sources = host.check_output("chronyc -n sources")
    assert "10.89.20.1" in sources
    # chronyd -x: the lab hosts share the machine's clock
    assert " -x" in host.check_output("cat /proc/$(pidof chronyd | cut -d' ' -f1)/cmdline | tr '\\0' ' '")


def test_admin_with_key_logs_in_over_ssh_and_has_sudo(host):
    result = subprocess.run(
        ["ssh", "-i", str(LAB_KEY), *SSH_OPTS, f"alice@{_address(host)}", "sudo -n id -u"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_admin_without_sudo_flag_has_no_sudo(host):
    bob = host.user("bob")
    assert bob.exists
    assert "adm" in bob.groups
    assert "bob" not in host.file("/etc/sudoers.d/bizra-admins").content_string
    assert host.run("runuser -u bob -- sudo -n true").rc != 0


def test_absent_user_is_gone(host):
    assert not host.user("mallory").exists


def test_sshd_offers_public_keys_only(host):
    """A password attempt is refused before any prompt: the server offers publickey only."""
    result = subprocess.run(
        ["ssh", "-v", *SSH_OPTS, "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
         f"alice@{_address(host)}", "true"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode != 0
    offered = [line for line in result.stderr.splitlines() if "Authentications that can continue" in line]
    assert offered and offered[-1].rstrip().endswith(": publickey"), offered
    effective = host.check_output("sshd -T")
    assert "passwordauthentication no" in effective
    assert "permitrootlogin without-password" in effective
    assert "x11forwarding no" in effective


def test_journal_is_persistent(host):
    marker = "bizra-molecule-journal-probe"
    host.run(f"systemd-cat -t bizra-probe echo {marker}")
    host.run("journalctl --flush")
    journal = host.run(f"journalctl -D /var/log/journal -t bizra-probe --no-pager | grep -c {marker}")
    assert journal.rc == 0 and int(journal.stdout.strip()) >= 1


def test_packages(host):
    assert host.package("htop").is_installed
    assert host.package("chrony").is_installed
    assert not host.package("telnet").is_installed


def test_check_mode_on_converged_hosts_changes_nothing():
    rc, output, recap = run_playbook("converge.yml", "--check", "--diff")
    assert rc == 0, output[-3000:]
    assert_nothing_changed(recap, output, testinfra_hosts)


def test_bad_input_fails_before_touching_the_host():
    rc, output, recap = run_playbook(
        "converge.yml",
        "-e", '{"base_timezone": "Mars/Olympus_Mons", "base_packages_extra": ["sl"],'
              ' "base_admin_users": [{"name": "Bad User", "ssh_keys": ["not-a-key"]},'
              # a real key cut short in a copy-paste: it still looks like a key
              ' {"name": "carol", "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9ok'
              ' carol@example"]}]}',
    )
    assert rc != 0
    flat = " ".join(output.split())
    assert "base_admin_users names ['Bad User'] are not POSIX user names" in flat
    assert "Bad User's key 1 (not-a-key...): not '<type> <base64 key> [comment]'" in flat
    assert "carol's key 1 (ssh-ed25519 AAAAC3NzaC1l...): its key is cut short: a field runs past the end" in flat
    assert_nothing_changed(recap, output, testinfra_hosts)
    for name in testinfra_hosts:
        host = testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory_dir()}")
        assert not host.package("sl").is_installed


def _service_started_at(host, unit: str) -> str:
    return host.check_output(f"systemctl show -p ActiveEnterTimestampMonotonic --value {unit}")


def test_drift_is_found_by_the_probe_and_put_back(host):
    """The probe (tasks/validate.yml) lets the drift steps (tasks/drift.yml) skip as one task on a
    converged host: a host that drifted on each of them is put back, with the restart its
    changes need, and a converged one is not."""
    name = host.ansible.get_variables()["inventory_hostname"]
    steps = ("Install the required packages", "Set the time zone", "Make sshd read its drop-in directory",
             "Create the journald drop-in and persistent journal directories", "Create or remove admin users",
             "Install admin users' SSH keys", "Enable and start chrony and sshd",
             "Restart chrony", "Reload sshd", "Restart journald")
    host.run_expect([0], "systemctl stop chrony && timedatectl set-timezone UTC"
                         " && DEBIAN_FRONTEND=noninteractive apt-get remove -y -q htop"
                         " && sed -i '/^Include \\/etc\\/ssh\\/sshd_config.d/d' /etc/ssh/sshd_config"
                         " && chmod 0700 /var/log/journal"
                         " && usermod -s /bin/sh alice && gpasswd -d bob adm >/dev/null"
                         " && rm /home/bob/.ssh/authorized_keys")
    journald_before = _service_started_at(host, "systemd-journald")
    rc, output, recap = run_playbook("converge.yml", "--limit", name)
    assert rc == 0, output[-3000:]
    # Skipped steps print no banner (display_skipped_hosts = false): these ran.
    assert all(f"{step}] " in output for step in steps), [s for s in steps if f"{s}] " not in output]
    assert recap[name]["changed"] >= len(steps), output[-3000:]
    assert host.package("htop").is_installed
    assert host.check_output("timedatectl show -p Timezone --value") == "Europe/Zurich"
    assert host.service("chrony").is_running
    assert host.check_output("grep -c '^Include /etc/ssh/sshd_config.d/\\*.conf$' /etc/ssh/sshd_config") == "1"
    assert host.file("/var/log/journal").mode == 0o2755
    assert _service_started_at(host, "systemd-journald") != journald_before
    assert host.user("alice").shell == "/bin/bash" and "adm" in host.user("bob").groups
    assert "bob@example" in host.file("/home/bob/.ssh/authorized_keys").content_string
    rc, output, recap = run_playbook("converge.yml", "--limit", name)
    assert rc == 0, output[-3000:]
    assert_nothing_changed(recap, output, [name])
    assert "Put back the packages" not in output and not any(f"{step}] " in output for step in steps)


def test_a_tag_writes_only_its_own_files(host):
    """The configuration files are one task; --tags base::sshd still writes only sshd's, and reloads
    only sshd."""
    name = host.ansible.get_variables()["inventory_hostname"]
    chrony_conf, dropin = "/etc/chrony/chrony.conf", "/etc/ssh/sshd_config.d/00-bizra-hardening.conf"
    host.run_expect([0], f"echo '# drifted' >> {chrony_conf} && echo '# drifted' >> {dropin}")
    chrony_before = _service_started_at(host, "chrony")
    rc, output, recap = run_playbook("converge.yml", "--limit", name, "--tags", "base::sshd")
    assert rc == 0, output[-3000:]
    assert recap[name]["changed"] == 2, output[-3000:]  # the drop-in and sshd's reload
    assert "# drifted" not in host.file(dropin).content_string
    assert "# drifted" in host.file(chrony_conf).content_string
    assert "Restart chrony] " not in output and _service_started_at(host, "chrony") == chrony_before
    rc, output, recap = run_playbook("converge.yml", "--limit", name, "--skip-tags", "base::sshd")
    assert rc == 0, output[-3000:]
    assert recap[name]["changed"] == 2, output[-3000:]  # chrony.conf and chrony's restart
    assert "# drifted" not in host.file(chrony_conf).content_string
    assert _service_started_at(host, "chrony") != chrony_before
