#!/usr/bin/env bash
# Quick start on a fresh machine (as root): set everything up, start shoald, run a container.
#   bash deploy/quickstart.sh
# shoald keeps running afterwards; `bin/shoal ps -a`, `bin/shoal run ...` talk to it.
# Stop it with: kill "$(cat /run/shoal/shoald.pid)"   (containers keep running: live restore)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

sock=/run/shoal/shoald.sock
export SHOAL_HOST="unix://$sock"
if ! bin/shoal version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup bin/shoald --data-root /var/lib/shoal --exec-root /run/shoal -H "unix://$sock" >>/var/log/shoald.log 2>&1 &
  for _ in $(seq 1 100); do [ -S "$sock" ] && bin/shoal version >/dev/null 2>&1 && break; sleep 0.1; done
  echo "shoald started (pid $!, log /var/log/shoald.log, socket $sock)"
fi

rootfs="$PWD/test/fixtures/out/rootfs"
echo "--- shoal load -i test/fixtures/out/images/busybox.docker.tar   (made from Debian's busybox-static; nothing is downloaded)"
bin/shoal load -i test/fixtures/out/images/busybox.docker.tar
echo "--- shoal run --rm --hostname demo --memory 64m --pids-limit 64 busybox ..."
bin/shoal run --rm --hostname demo --memory 64m --pids-limit 64 busybox \
  sh -c 'echo "hello from $(hostname): my pid is $$, these are all my processes:"; ps; id'
echo "--- shoal run --rm --rootfs $rootfs --read-only ..."
bin/shoal run --rm --rootfs "$rootfs" --read-only /bin/sh -c 'touch /x 2>&1 || echo "the rootfs is read-only"'
echo "--- done. shoald keeps running; try:"
echo "    export SHOAL_HOST=$SHOAL_HOST"
echo "    bin/shoal run -d --name web busybox httpd -f -p 8080; bin/shoal ps; bin/shoal exec web ps; bin/shoal rm -f web"
