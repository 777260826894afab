#!/usr/bin/env bash
# Sets up a fresh machine for building and testing shoal: Debian packages, npm packages, the build, the fixtures.
# Idempotent: a second run only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

# Packages the build, the tests and the benchmarks need. Nothing here is part of shoal at run time
# except libseccomp (the engine's seccomp filters), libisal (gzip layers) and busybox-static (the test and demo rootfs).
PKGS=(
  build-essential python3          # node-gyp
  libseccomp-dev nlohmann-json3-dev libcap-dev libmnl-dev libnftables-dev  # the native engine (libmnl: netlink; libnftables: shoal's table)
  libisal-dev                      # the addon's gzip decoder for layers (Intel ISA-L)
  busybox-static                   # the rootfs of test and demo containers
  iproute2 nftables curl conntrack # networking tests, host-side HTTP checks; conntrack: the load balancer forgets departed UDP flows
  wrk                              # the network benchmark's load generator (its docker.io peer is installed by the bench)
  shellcheck                       # deploy/local-cluster.sh is checked by its test
  runc                             # the engine benchmark's peer; the reference in test/runtime/oci-drop-in.test.ts
  docker.io                        # dockerd + containerd (ctr): peers that drive shoal-runtime (test/runtime/peers.test.ts)
  docker-registry apache2-utils skopeo  # image tests (local registry, htpasswd) and the image benchmark's peer
  zstd                             # zstd-compressed layers in the image tests
  etcd-server                      # the raft benchmark's peer
  qemu-system-x86 cpio             # the cgroup v2 bed (test/cgroup2/): Debian's kernel in a VM, its initramfs
  util-linux                       # script(1): a pseudo-terminal for the detach tests
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's docker-registry and etcd start as services on install; shoal's tests start their own on loopback.
# docker.io too: the tests start their own dockerd on private roots and sockets.
for svc in docker-registry etcd docker containerd; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done

# `npm install` rather than `npm ci`: the npm 11 on these machines writes lockfiles without other platforms'
# optional packages (biome's and buf's binaries) and its `npm ci` then rejects them as out of sync. With the
# lockfile present, `npm install` installs exactly what it pins and leaves it unchanged.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund
fi
npm run build
bash test/fixtures/make-fixtures.sh
# The bed's kernel: linux-image-amd64's image package, downloaded and unpacked (not installed).
bash test/cgroup2/fetch-kernel.sh
