#!/bin/sh
# The runtime image's own layer, shared by docker/Dockerfile (ROOT=/) and
# scripts/stage-runtime.sh (a staged directory), so both have the same
# layout: the two binaries in /usr/local/bin and an unprivileged user with a
# fixed uid/gid that Kubernetes' runAsNonRoot can verify.
#
#   docker/runtime-setup.sh INSTALL_TREE ROOT
#
# INSTALL_TREE is scripts/build.sh's DESTDIR (it holds usr/local/bin/...).
set -eu

AW_UID=10001
AW_GID=10001
AW_USER=airwave

src=${1:?usage: runtime-setup.sh INSTALL_TREE ROOT}
root=${2:?usage: runtime-setup.sh INSTALL_TREE ROOT}
root=${root%/}

mkdir -p "$root/usr/local/bin" "$root/etc"
for b in airwave airwave-speechd; do
    install -m 0755 "$src/usr/local/bin/$b" "$root/usr/local/bin/$b"
done

# A system user without a home or a login shell. Written directly rather than
# with useradd, which cannot write into a staged root without chroot.
touch "$root/etc/passwd" "$root/etc/group"
grep -q "^$AW_USER:" "$root/etc/group" ||
    echo "$AW_USER:x:$AW_GID:" >> "$root/etc/group"
grep -q "^$AW_USER:" "$root/etc/passwd" ||
    echo "$AW_USER:x:$AW_UID:$AW_GID:airwave:/nonexistent:/usr/sbin/nologin" >> "$root/etc/passwd"
if [ -f "$root/etc/shadow" ] && ! grep -q "^$AW_USER:" "$root/etc/shadow"; then
    echo "$AW_USER:!:19000::::::" >> "$root/etc/shadow"
fi
