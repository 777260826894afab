#!/usr/bin/env bash
# Builds the cgroup v2 bed's initramfs (a gzipped newc cpio) at $1: busybox, shoal-runtime, shoal-monitor and
# shoal-init with the shared libraries ldd lists for them (none today: they are static), the bundles the
# engine's spec code writes (bundles.ts), the kernel modules fetch-kernel.sh kept, and init + checks.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$1"
kernel="$repo/test/fixtures/out/kernel"
bin="$repo/native/build/Release"

stage="$(mktemp -d -t shoal-initramfs-XXXXXX)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,opt/shoal,proc,sys,dev,tmp,run,newroot,modules,rootfs}

cp /bin/busybox "$stage/bin/busybox"
for exe in shoal-runtime shoal-monitor shoal-init; do
  [ -x "$bin/$exe" ] || { echo "build-initramfs: $bin/$exe missing (npm run build:native)" >&2; exit 1; }
  cp "$bin/$exe" "$stage/opt/shoal/"
  # Shared libraries (and the loader) of a dynamic build, each at its own path.
  for lib in $(ldd "$bin/$exe" 2>/dev/null | grep -o '/[^ ]*' || true); do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done
done
cp "$kernel"/modules/*.ko "$stage/modules/"
cp "$here/init" "$stage/init"
cp "$here/checks.sh" "$stage/checks.sh"
chmod 755 "$stage/init"

# The containers' root: busybox and the fixture's users; the applet links are made in the VM (init).
mkdir -p "$stage"/rootfs/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$stage/rootfs/bin/busybox"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$stage/rootfs/etc/passwd"
printf 'root:x:0:\n' > "$stage/rootfs/etc/group"
"$repo/node_modules/.bin/tsx" "$here/bundles.ts" "$stage/bundles"

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 > "$out"
