#!/bin/sh
# Runs inside the debootstrapped root (chroot) of the lab VM image, after setup.sh.
# The image boots once under qemu to install GRUB on its own disk (first-boot unit below),
# then every lab VM starts from a copy-on-write overlay of it.
set -eu

echo 'LABEL=bizra-root / ext4 errors=remount-ro 0 1' > /etc/fstab

# Serial console, stable NIC name (NVMe devices on the bus move the PCI-derived name).
# Kept out of /etc/default/grub so roles that own the kernel command line add theirs beside it.
mkdir -p /etc/default/grub.d
cat > /etc/default/grub.d/10-bizra-lab.cfg <<'GRUB'
# Lab VM: console on the serial port qemu logs, classic NIC names, and the TSC as the clock:
# under software emulation the kernel's boot-time TSC sync check fails and it falls back to the
# emulated HPET, whose every read waits for qemu's global lock (behind the disk I/O): boots then
# crawled for minutes with RCU stalls. qemu's TCG derives every vCPU's TSC from the host clock.
GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX console=ttyS0,115200 net.ifnames=0 tsc=reliable"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_TIMEOUT=1
GRUB
echo 'grub-pc grub-pc/install_devices multiselect /dev/vda' | debconf-set-selections

# The lab hands each VM its address, gateway, name servers, host name and the lab's SSH key
# through qemu's fw_cfg (opt/bizra/lab): shell assignments read at every boot.
cat > /usr/local/sbin/bizra-lab-config <<'SCRIPT'
#!/bin/sh
set -eu
modprobe qemu_fw_cfg 2>/dev/null || true
config=/sys/firmware/qemu_fw_cfg/by_name/opt/bizra/lab/raw
[ -r "$config" ] || { echo "bizra-lab-config: no lab configuration in fw_cfg" >&2; exit 0; }
LAB_HOSTNAME= LAB_ADDRESS= LAB_GATEWAY= LAB_ADDRESS6= LAB_GATEWAY6= LAB_NAMESERVERS= LAB_AUTHORIZED_KEY=
. "$config"
{
  printf '[Match]\nName=eth0\n\n[Network]\nAddress=%s\nGateway=%s\n' "$LAB_ADDRESS" "$LAB_GATEWAY"
  if [ -n "$LAB_ADDRESS6" ]; then printf 'Address=%s\nGateway=%s\n' "$LAB_ADDRESS6" "$LAB_GATEWAY6"; fi
  printf 'IPv6AcceptRA=no\n'
} > /etc/systemd/network/10-bizra-lab.network
for ns in $LAB_NAMESERVERS; do echo "nameserver $ns"; done > /etc/resolv.conf
echo "$LAB_HOSTNAME" > /etc/hostname
hostname "$LAB_HOSTNAME"
install -d -m 0700 /root/.ssh
printf '%s\n' "$LAB_AUTHORIZED_KEY" > /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
SCRIPT
chmod 0755 /usr/local/sbin/bizra-lab-config
cat > /etc/systemd/system/bizra-lab-config.service <<'UNIT'
[Unit]
Description=Lab VM: address, host name and SSH key from qemu fw_cfg
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service
Before=network-pre.target systemd-networkd.service ssh.service
Wants=network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/bizra-lab-config

[Install]
WantedBy=sysinit.target
UNIT
mkdir -p /etc/systemd/system/sysinit.target.wants
ln -sf /etc/systemd/system/bizra-lab-config.service /etc/systemd/system/sysinit.target.wants/
ln -sf /lib/systemd/system/systemd-networkd.service /etc/systemd/system/multi-user.target.wants/
# The serial getty is the console a person reads in console.log; keep it, it costs nothing.
rm -f /etc/systemd/system/console-getty.service

# First boot of the image build: put GRUB on the disk, forget this boot, power off.
cat > /usr/local/sbin/bizra-lab-install-bootloader <<'SCRIPT'
#!/bin/sh
set -eu
grub-install /dev/vda
update-grub
rm -f /etc/ssh/ssh_host_* /etc/systemd/system/multi-user.target.wants/bizra-lab-install-bootloader.service
: > /etc/machine-id
echo "bizra-lab: bootloader installed" > /dev/console
sync
systemctl poweroff --no-block
SCRIPT
chmod 0755 /usr/local/sbin/bizra-lab-install-bootloader
cat > /etc/systemd/system/bizra-lab-install-bootloader.service <<'UNIT'
[Unit]
Description=Lab VM image build: install GRUB on the image's own disk
After=local-fs.target
ConditionPathExists=!/boot/grub/grub.cfg

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/bizra-lab-install-bootloader
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/bizra-lab-install-bootloader.service /etc/systemd/system/multi-user.target.wants/

# A lab VM rebuilds its initramfs under software emulation (the storage role does, after
# mdadm.conf changes): with Debian's MODULES=most that took 11 minutes, with the modules this VM
# needs (its disks, md, its root filesystem) 1.5. The image's own initramfs, built above, is
# Debian's. Lab only: production hosts keep the distribution's setting.
echo 'MODULES=dep' > /etc/initramfs-tools/conf.d/90-bizra-lab.conf

# SELinux's first boot relabels every file, one by one under software emulation: 24,500 files
# took up to 8.5 minutes of guest time beside the other test stages. Documentation, manual
# pages and translations are a fifth of them and nothing on a lab VM reads them; later package
# installs leave them out too. Lab image only (copyright files stay).
cat > /etc/dpkg/dpkg.cfg.d/90-bizra-lab-nodoc <<'DPKG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
DPKG
find /usr/share/doc -type f ! -name copyright -delete
find /usr/share/doc -type l -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/*
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
apt-get clean
