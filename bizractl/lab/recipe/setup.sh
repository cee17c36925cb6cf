#!/bin/sh
# Runs inside the debootstrapped root (chroot) once, when the lab image is built.
# $1 is the Debian suite (bookworm, trixie).
set -eu
suite="$1"

# Same package sources as a production host: main, updates and security.
cat > /etc/apt/sources.list <<SOURCES
deb http://deb.debian.org/debian ${suite} main
deb http://deb.debian.org/debian ${suite}-updates main
deb http://deb.debian.org/debian-security ${suite}-security main
SOURCES

# /var/cache/apt/archives is shared between lab hosts (a bind mount): keep what is downloaded.
cat > /etc/apt/apt.conf.d/00bizra-lab-keep-debs <<'APT'
APT::Keep-Downloaded-Packages "true";
Binary::apt::APT::Keep-Downloaded-Packages "true";
APT

# Every lab host gets its own SSH host keys at first boot, not the image's.
rm -f /etc/ssh/ssh_host_*
cat > /etc/systemd/system/lab-ssh-hostkeys.service <<'UNIT'
[Unit]
Description=Generate SSH host keys for a new lab host
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p /etc/systemd/system/ssh.service.d /etc/systemd/system/multi-user.target.wants
printf '[Unit]\nWants=lab-ssh-hostkeys.service\nAfter=lab-ssh-hostkeys.service\n' \
  > /etc/systemd/system/ssh.service.d/lab-hostkeys.conf
ln -sf /etc/systemd/system/lab-ssh-hostkeys.service \
  /etc/systemd/system/multi-user.target.wants/lab-ssh-hostkeys.service
ln -sf /lib/systemd/system/ssh.service /etc/systemd/system/multi-user.target.wants/ssh.service

# Units that have nothing to do in a container and only slow the boot down.
for unit in getty@tty1.service console-getty.service systemd-firstboot.service; do
  ln -sf /dev/null "/etc/systemd/system/${unit}"
done

install -d -m 0700 /root/.ssh
: > /etc/machine-id
rm -f /etc/hostname
apt-get clean
