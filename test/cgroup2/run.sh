#!/usr/bin/env bash
# The cgroup v2 bed (npm run test:cgroup2): boots Debian's kernel under qemu (TCG, no network, serial console)
# with cgroup v2 only, runs checks.sh in it, and reads the results off the console. Ends with one
# "N passed, N failed, N skipped" line; exits non-zero when a check failed or the VM did not finish.
# SHOAL_CG2_TIMEOUT (seconds, default 300) bounds the VM.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
command -v qemu-system-x86_64 >/dev/null || { echo "cgroup2: qemu-system-x86_64 missing (scripts/setup.sh)" >&2; exit 1; }

bash "$here/fetch-kernel.sh"
work="$(mktemp -d -t shoal-cg2-XXXXXX)"
trap 'rm -rf "$work"' EXIT
bash "$here/build-initramfs.sh" "$work/initramfs.cpio.gz"

started=$(date +%s)
status=0
# -nodefaults and -nic none: no network device at all; the console is the only way out of the VM.
timeout "${SHOAL_CG2_TIMEOUT:-300}" qemu-system-x86_64 \
  -accel tcg -m 256 -smp 2 -nodefaults -nic none -display none -no-reboot \
  -serial "file:$work/console.log" \
  -kernel "$repo/test/fixtures/out/kernel/vmlinuz" -initrd "$work/initramfs.cpio.gz" \
  -append "console=ttyS0 loglevel=3 panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
  </dev/null || status=$?
took=$(($(date +%s) - started))

tr -d '\r' < "$work/console.log" > "$work/console.txt"
grep '^CG2 ' "$work/console.txt" || true
passed=$(grep -c '^CG2 PASS ' "$work/console.txt" || true)
failed=$(grep -c '^CG2 FAIL ' "$work/console.txt" || true)
skipped=$(grep -c '^CG2 SKIP ' "$work/console.txt" || true)
if ! grep -q '^CG2 END' "$work/console.txt"; then
  # A VM that did not reach the end (timeout, panic, init died): show what it printed last.
  echo "cgroup2: the VM did not finish (qemu exit $status after ${took}s); console tail:" >&2
  tail -30 "$work/console.txt" >&2
  failed=$((failed + 1))
fi
echo "cgroup2: VM ran ${took}s"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
