#!/bin/sh
# TEST STAND-IN, never shipped: the Luna client package's installer, as the hsm_client role calls
# it (sh install.sh -p network -c sdk, the licence accepted on standard input). Installs the
# stand-in vtl and lunacm, and as libCryptoki2_64.so a link to SoftHSM2's PKCS#11 library, so the
# role's PKCS#11 plumbing runs against a real token behind the Luna paths.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
read -r answer
[ "$answer" = y ] || { echo "licence not accepted" >&2; exit 1; }
mkdir -p /var/lib/luna-standin
echo "install.sh argv=$*" >> /var/lib/luna-standin/calls.log
dir=/usr/safenet/lunaclient
mkdir -p "$dir/bin" "$dir/lib" "$dir/cert/client" "$dir/cert/server"
install -m 0755 "$here/vtl" "$here/lunacm" "$dir/bin/"
ln -sf /usr/lib/softhsm/libsofthsm2.so "$dir/lib/libCryptoki2_64.so"
getent group hsmusers >/dev/null || groupadd --system hsmusers
echo "Luna client (stand-in) installed in $dir"
