#!/usr/bin/env bash
# Puts Debian's own kernel (the package linux-image-amd64 points at) under test/fixtures/out/kernel/:
# vmlinuz, its config, and the modules the cgroup v2 bed loads. The package is downloaded with apt-get and
# unpacked with dpkg-deb, never installed. Idempotent: an existing kernel of the same package is kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/../fixtures/out/kernel"
# Modules the bed needs that Debian builds as modules: brd (a ram disk, the block device io.max is set on).
MODULES=(kernel/drivers/block/brd.ko)

pkg_name() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
pkg="$(pkg_name)"
if [ -z "$pkg" ]; then
  apt-get update -qq
  pkg="$(pkg_name)"
fi
[ -n "$pkg" ] || { echo "fetch-kernel: apt knows no linux-image-amd64" >&2; exit 1; }
if [ "$(cat "$dest/package" 2>/dev/null)" = "$pkg" ] && [ -f "$dest/vmlinuz" ]; then exit 0; fi

tmp="$(mktemp -d -t shoal-kernel-XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q=2 -o APT::Sandbox::User=root "$pkg")
dpkg-deb -x "$tmp"/*.deb "$tmp/x"
rm -rf "$dest"
mkdir -p "$dest/modules"
cp "$tmp"/x/boot/vmlinuz-* "$dest/vmlinuz"
cp "$tmp"/x/boot/config-* "$dest/config"
for m in "${MODULES[@]}"; do
  cp "$tmp"/x/lib/modules/*/"$m" "$dest/modules/"
done
echo "$pkg" > "$dest/package"
