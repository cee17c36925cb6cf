#!/bin/sh
# Runs inside the debootstrapped root (chroot) once, when the EE base image is built.
# $1 is the Debian suite.
set -eu
suite="$1"

cat > /etc/apt/sources.list <<SOURCES
deb http://deb.debian.org/debian ${suite} main
deb http://deb.debian.org/debian ${suite}-updates main
deb http://deb.debian.org/debian-security ${suite}-security main
SOURCES

# ansible-builder drives the package manager as `PKGMGR install -y PKG...` and `PKGMGR clean all`
# (dnf's syntax). This adapter gives apt-get that interface.
cat > /usr/local/sbin/ee-apt <<'ADAPTER'
#!/bin/sh
set -eu
case "${1:-}" in
  install) shift
           packages=""
           for arg in "$@"; do [ "$arg" = -y ] || packages="$packages $arg"; done
           apt-get update -q
           # shellcheck disable=SC2086  # one word per package
           DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages ;;
  clean) apt-get clean; rm -rf /var/lib/apt/lists/* ;;
  *) echo "ee-apt: unsupported: $*" >&2; exit 2 ;;
esac
ADAPTER
chmod 0755 /usr/local/sbin/ee-apt

# An execution environment talks to hosts it has never seen: host keys come from the operator's
# known_hosts (mounted) or the inventory, never accepted blindly.
install -d -m 0700 /root/.ssh
: > /etc/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/*
