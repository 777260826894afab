# The cgroup v2 checks, sourced by the bed's init in the VM (busybox sh, cgroup2 at /sys/fs/cgroup).
# One check = one container from /bundles/<name> (bundles.ts), looked at from the host side (the cgroup's
# files, the runtime's verbs) and from inside; each ends with one "CG2 PASS|FAIL|SKIP name[: why]" line.
RT="shoal-runtime --root /run/shoal-rt"
CG=/sys/fs/cgroup/shoal-cg2

begin() { CUR=$1; WHY=; }
bad() { [ -n "$WHY" ] || WHY="$*"; }
is() { [ "$2" = "$3" ] || bad "$1 is '$2', want '$3'"; }           # is LABEL GOT WANT
has() { case "$2" in *"$3"*) ;; *) bad "$1 '$2' lacks '$3'" ;; esac; }  # has LABEL TEXT PART
# the VM's uptime at the end of each check goes to the console too (where the bed spends its time)
at() { echo "CG2 TIME $CUR $(cut -d' ' -f1 /proc/uptime)"; }
end() { if [ -z "$WHY" ]; then echo "CG2 PASS $CUR"; else echo "CG2 FAIL $CUR: $WHY"; fi; at; }
skip() { echo "CG2 SKIP $CUR: $*"; at; }
# create + start the bundle of the same name; false (and the check failed) when either fails. As shoald
# does (--log-path), so the monitor owns the container's stdio and reports its exit (runc's mode, without
# it, leaves the exit status to the caller's reaper: native/README.md).
up() {
  $RT create --bundle "/bundles/$1" --log-path "/tmp/$1.log" "$1" </dev/null >"/tmp/$1.create" 2>&1 || { bad "create: $(cat "/tmp/$1.create")"; return 1; }
  out=$($RT start "$1" 2>&1) || { bad "start: $out"; return 1; }
}
down() {
  out=$($RT delete --force "$1" 2>&1) || bad "delete: $out"
  [ ! -e "$CG/$1" ] || bad "cgroup $CG/$1 left after delete"
}
json_num() { echo "$1" | grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2; }  # json_num JSON KEY
# waits up to $2 s (in 0.2 s steps) for the shell condition $1
until_true() {
  i=0
  while [ $i -lt $(($2 * 5)) ]; do
    eval "$1" && return 0
    sleep 0.2
    i=$((i + 1))
  done
  return 1
}

begin v2-only
is "cgroup filesystems" "$(grep -c ' - cgroup ' /proc/self/mountinfo)" 0
has "/sys/fs/cgroup" "$(grep ' /sys/fs/cgroup ' /proc/self/mountinfo)" " - cgroup2 "
has "controllers" "$(cat /sys/fs/cgroup/cgroup.controllers)" "cpuset cpu io memory"
end

begin memory
if up memory; then
  is memory.max "$(cat $CG/memory/memory.max)" 33554432
  is memory.swap.max "$(cat $CG/memory/memory.swap.max)" 0  # no swap, as docker --memory alone
  # the container sees its own cgroup at the root of its /sys/fs/cgroup (cgroup namespace)
  is "memory.max inside" "$($RT exec memory cat /sys/fs/cgroup/memory.max 2>&1)" 33554432
  is "/proc/self/cgroup inside" "$($RT exec memory cat /proc/self/cgroup 2>&1)" "0::/"
fi
down memory
end

begin oom
if up oom; then
  until_true "$RT state oom 2>/dev/null | grep -q '\"status\":\"stopped\"'" 60 || bad "still running after 60 s"
  ex=$(cat /run/shoal-rt/oom/exit.json 2>&1)
  has exit.json "$ex" '"oomKilled":true'
  has exit.json "$ex" '"exitCode":137'
  has memory.events "$(cat $CG/oom/memory.events 2>&1)" "oom_kill 1"
fi
down oom
end

begin pids
if up pids; then
  is pids.max "$(cat $CG/pids/pids.max)" 10
  out=$($RT exec pids sh -c 'for i in $(seq 20); do sleep 100000 >/dev/null 2>&1 & done' 2>&1)
  has "20 forks" "$out" "Resource temporarily unavailable"
  n=$(cat $CG/pids/pids.current)
  [ "$n" -ge 2 ] && [ "$n" -le 10 ] || bad "pids.current is $n, want 2 to 10"
fi
down pids
end

begin cpu-max
if up cpumax; then
  is cpu.max "$(cat $CG/cpumax/cpu.max)" "20000 100000"
  # the busy loop runs into the quota: periods throttled, as the runtime's stats report them
  until_true '[ "$(json_num "$($RT events --stats cpumax)" throttledPeriods)" -gt 0 ]' 60 ||
    bad "no throttled period in 60 s: $($RT events --stats cpumax 2>&1)"
fi
down cpumax
end

begin cpuset
if up cpuset; then
  is cpuset.cpus "$(cat $CG/cpuset/cpuset.cpus)" 1
  is cpuset.mems "$(cat $CG/cpuset/cpuset.mems)" 0
  is "Cpus_allowed_list inside" "$($RT exec cpuset grep Cpus_allowed_list /proc/self/status 2>&1 | cut -f2)" 1
fi
down cpuset
end

begin cpu-weight
if up weight; then
  is cpu.weight "$(cat $CG/weight/cpu.weight)" 79  # cpu shares 2048 on the v2 scale, as runc
fi
down weight
end

begin io
# A runtime that takes blockIO refuses a weight out of range; one that accepts it does not apply blockIO.
if $RT create --bundle /bundles/io-bad io-bad </dev/null >/dev/null 2>&1; then
  $RT delete --force io-bad >/dev/null 2>&1
  skip "this runtime accepts blockIO.weight 5 without applying blockIO (io.max/io.weight not implemented)"
else
  if up io; then
    # blkio weight 300 on io.weight's scale, as runc where BFQ is not in use: 1 + (300 - 10) * 9999 / 990
    is io.weight "$(cat $CG/io/io.weight)" "default 2930"
    io_max="$(grep '^1:0 ' $CG/io/io.max)"
    has io.max "$io_max" "rbps=1048576"
    has io.max "$io_max" "wiops=100"
  fi
  down io
  end
fi

begin refused
# a limit the kernel refuses fails create with one line naming it, and leaves nothing behind
if out=$($RT create --bundle /bundles/bad-cpuset bad-cpuset </dev/null 2>&1); then
  bad "create succeeded"
  $RT delete --force bad-cpuset >/dev/null 2>&1
fi
has stderr "$out" "cpuset.cpus = 7: invalid value"
[ ! -e $CG/bad-cpuset ] || bad "cgroup left after a failed create"
[ ! -e /run/shoal-rt/bad-cpuset ] || bad "state dir left after a failed create"
end

begin freezer
if up freeze; then
  $RT pause freeze 2>&1 || bad "pause failed"
  is cgroup.freeze "$(cat $CG/freeze/cgroup.freeze)" 1
  has cgroup.events "$(cat $CG/freeze/cgroup.events)" "frozen 1"
  has state "$($RT state freeze)" '"status":"paused"'
  $RT resume freeze 2>&1 || bad "resume failed"
  is "cgroup.freeze after resume" "$(cat $CG/freeze/cgroup.freeze)" 0
  has state "$($RT state freeze)" '"status":"running"'
fi
down freeze
end

begin stats
if up stats; then
  # the container fills 4 MB of /dev/shm (charged to its memory) and sleeps
  until_true '[ "$(json_num "$($RT events --stats stats)" usage)" -gt 4000000 ]' 60 ||
    bad "memory usage never above 4 MB"
  st="$($RT events --stats stats 2>&1)"
  is "memory.limit" "$(json_num "$st" limit)" 67108864
  [ "$(json_num "$st" usageNs)" -gt 0 ] || bad "cpu usageNs not above 0: $st"
  [ "$(json_num "$st" current)" -ge 1 ] || bad "pids current below 1: $st"
fi
down stats
end

begin update
if up update; then
  out=$($RT update --memory 67108864 --pids-limit 30 --cpu-quota 50000 --cpu-period 100000 update 2>&1) ||
    bad "update: $out"
  is memory.max "$(cat $CG/update/memory.max)" 67108864
  is pids.max "$(cat $CG/update/pids.max)" 30
  is cpu.max "$(cat $CG/update/cpu.max)" "50000 100000"
fi
down update
end

# `opened NAME CMD` (in the container): "NAME ok", or NAME and the error. An open the device program lets
# through reaches the driver, so a number no driver serves (major 240, local/experimental) fails with ENXIO
# there and with EPERM when the program denies it: that tells the program's answer from the driver's.
OPENED='opened() { if sh -c "$2" 2>/dev/t-err; then echo "$1 ok"; else echo "$1 $(sed "s/.*: //" /dev/t-err)"; fi; }'

begin devices
if up devices-docker; then
  out=$($RT exec devices-docker sh -c "$OPENED
mknod /dev/t-240 c 240 0 && echo made
opened unlisted 'cat /dev/t-240'
mknod /dev/t-blk b 1 0 && opened ramdisk 'head -c1 /dev/t-blk'
opened null 'echo x > /dev/null'
opened urandom 'head -c4 /dev/urandom >/dev/null'" 2>&1)
  has out "$out" "made"  # Docker's rules allow mknod of any char device
  has out "$out" "unlisted Operation not permitted"
  has out "$out" "ramdisk Operation not permitted"
  has out "$out" "null ok"
  has out "$out" "urandom ok"
  # outside the container the same node opens: the program is on the container's cgroup only
  mknod /tmp/t-blk b 1 0 && head -c1 /tmp/t-blk >/dev/null || bad "the host cannot read its ram disk"
  rm -f /tmp/t-blk
fi
down devices-docker
end

begin device-rules
if up devices-rules; then
  out=$($RT exec devices-rules sh -c "$OPENED
mknod /dev/t-kmsg c 1 11 && mknod /dev/t-a c 240 0
opened kmsg-write 'echo shoal-cgroup2-bed > /dev/t-kmsg'
opened kmsg-read 'head -c0 /dev/t-kmsg'
opened 240-read 'cat /dev/t-a'
opened 240-write 'echo x > /dev/t-a'" 2>&1)
  has out "$out" "kmsg-write ok"  # writing /dev/kmsg needs no capability: the rule's w lets it open
  has out "$out" "kmsg-read Operation not permitted"
  has out "$out" "240-read No such device or address"  # let through to the (absent) driver
  has out "$out" "240-write Operation not permitted"   # the later deny took w back
fi
down devices-rules
end

begin device-mapped
if up devices-mapped; then
  out=$($RT exec devices-mapped sh -c "$OPENED
opened ram-read 'head -c1 /dev/xram >/dev/null'
opened ram-write 'echo x > /dev/xram'
mknod /dev/t-a c 240 0
opened 240-read 'cat /dev/t-a'
opened 240-write 'echo x > /dev/t-a'" 2>&1)
  has out "$out" "ram-read ok"  # the mapped ram disk opens for reading ...
  has out "$out" "ram-write Operation not permitted"  # ... and not for writing (:r)
  has out "$out" "240-read No such device or address"
  has out "$out" "240-write Operation not permitted"
fi
down devices-mapped
end

begin cleanup
left=$(find $CG -mindepth 1 -type d 2>/dev/null)
is "cgroups left under $CG" "$left" ""
end
