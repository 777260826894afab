#!/usr/bin/env bash
# A local multi-host shoal cluster: one network namespace per "host", one shoald per namespace,
# all on a private bridge that routes nowhere. Run as root. See deploy/README.md.
#
#   local-cluster.sh up --managers N --workers M [--prefix P] [--subnet 10.X.Y.0/24] [--swarm auto|yes|no]
#                       [--executor engine|sim]
#   local-cluster.sh down    [--prefix P]
#   local-cluster.sh status  [--prefix P]
#   local-cluster.sh env     NODE [--prefix P]
#   local-cluster.sh kill    NODE [--signal SIG] [--prefix P]   # signal the node's shoald, wait until gone
#   local-cluster.sh start   NODE [--prefix P]                  # (re)start a node's shoald
#   local-cluster.sh cut     NODE [--from N1,N2] [--link] [--prefix P]
#   local-cluster.sh heal    NODE [--prefix P]
#
# Everything made for prefix P carries P in its name: bridge P-br, namespaces and host veth ends P-m1,
# P-w1…, state under $SHOAL_LOCAL_RUN/P (exec roots, sockets) and $SHOAL_LOCAL_DATA/P (data roots,
# logs, pids). Only those are ever touched; processes are stopped only by their recorded pids.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Exec roots hold unix sockets (<exec-root>/runtime/<64 hex>/ctl.sock, at most 107 bytes): keep this short.
RUN_BASE=${SHOAL_LOCAL_RUN:-/run/slc}
DATA_BASE=${SHOAL_LOCAL_DATA:-/var/lib/shoal-local}
NODE_BIN=${SHOAL_NODE:-$(command -v node || echo node)}
CUT_TABLE=shoal_lc_cut          # nftables table (inet) the script owns inside a node's namespace
WAIT_SECS=${SHOAL_LOCAL_WAIT:-60}
SOCK_MAX=107

PREFIX=shoal
log() { echo "local-cluster: $*" >&2; }
die() { echo "local-cluster: $*" >&2; exit 2; }

usage() { # usage [EXIT]: the command summary at the top of this file (stdout for --help, else stderr)
  local code=${1:-2}
  if ((code == 0)); then sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  else sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; fi
  exit "$code"
}

# ---- names and paths -------------------------------------------------------------------------

check_prefix() {
  [[ $1 =~ ^[a-z][a-z0-9]{0,9}$ ]] ||
    die "--prefix: \"$1\" must be 1-10 characters of a-z0-9, starting with a letter (it names interfaces of at most 15)"
}
bridge_name() { echo "$PREFIX-br"; }
netns_of() { echo "$PREFIX-$1"; }
veth_of() { echo "$PREFIX-$1"; }           # host end; the node's end is eth0 inside its namespace
hostname_of() { echo "$PREFIX-$1"; }       # shoald --hostname: node ls and node.hostname constraints tell nodes apart
run_dir() { echo "$RUN_BASE/$PREFIX"; }
data_dir() { echo "$DATA_BASE/$PREFIX"; }
exec_root() { echo "$(run_dir)/$1"; }
# shoald's environment and node flags, read from its #! line (`env -S NAME=VALUE… node FLAGS…`): one malloc
# arena, one V8 helper thread (daemon/README.md says why).
read -r -a SHOALD_ENV <<<"$(sed -n '1s/^#!.*env -S \(.*\)node .*/\1/p' "$REPO/bin/shoald")"
read -r -a SHOALD_NODE_FLAGS <<<"$(sed -n '1s/^#!.*node //p' "$REPO/bin/shoald")"

sock_of() { echo "$(run_dir)/$1/shoald.sock"; }
node_data() { echo "$(data_dir)/$1"; }
pid_file() { echo "$(data_dir)/$1/shoald.pid"; }
log_file() { echo "$(data_dir)/$1/shoald.log"; }
cluster_file() { echo "$(data_dir)/cluster"; }   # lines: NODE ROLE ADDRESS; plus "#subnet S", "#executor E"
# shoald --executor of the cluster's nodes (engine unless `up --executor sim` recorded otherwise).
executor_of() { local e; e=$(sed -n 's/^#executor //p' "$(cluster_file)" 2>/dev/null); echo "${e:-engine}"; }

# ---- IPv4 arithmetic ------------------------------------------------------------------------

ip2int() { local IFS=.; read -r a b c d <<<"$1"; echo $(((a << 24) | (b << 16) | (c << 8) | d)); }
int2ip() { echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"; }

# A /24 in 10.240.0.0/12 picked from the prefix, so different prefixes get different subnets.
derive_subnet() {
  local h
  h=$(printf '%s' "$1" | cksum | cut -d' ' -f1)
  echo "10.$((240 + h % 16)).$(((h / 16) % 256)).0/24"
}

check_subnet() {
  local s=$1 a b c
  [[ $s =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.0/24$ ]] ||
    die "--subnet: \"$s\" must be a private /24 written A.B.C.0/24"
  a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]} c=${BASH_REMATCH[3]}
  ((b <= 255 && c <= 255)) || die "--subnet: \"$s\" is not an IPv4 network"
  if ! { ((a == 10)) || { ((a == 172)) && ((b >= 16 && b <= 31)); } || { ((a == 192)) && ((b == 168)); }; }; then
    die "--subnet: \"$s\" is not in a private range (10/8, 172.16/12, 192.168/16)"
  fi
}

# Fails when SUBNET overlaps an address or route the host already has (another cluster, a real network).
check_subnet_free() {
  local taken
  if taken=$(subnet_taken "$1"); then die "subnet $1 overlaps $taken already in use on this host; pick another with --subnet"; fi
}

# Prints the host's route or address SUBNET overlaps (status 0), or nothing (status 1).
subnet_taken() {
  local net lo hi dst plen dlo dhi
  net=$(ip2int "${1%/*}"); lo=$net; hi=$((net + 255))
  while read -r dst _; do
    case $dst in default | "") continue ;; esac
    plen=32
    if [[ $dst == */* ]]; then plen=${dst#*/}; fi
    [[ ${dst%/*} =~ ^[0-9.]+$ ]] || continue
    dlo=$(( $(ip2int "${dst%/*}") & ~((1 << (32 - plen)) - 1) & 0xffffffff )); dhi=$((dlo + (1 << (32 - plen)) - 1))
    if ((dlo <= hi && lo <= dhi)); then
      echo "$dst"
      return 0
    fi
  done < <({ ip -4 route show; ip -4 -o addr show | awk '{print $4}'; } 2>/dev/null)
  return 1
}

node_addr() { # node_addr SUBNET NODE: host .1, managers .11…, workers .101…
  local base n=$2
  base=$(ip2int "${1%/*}")
  case $n in
    m*) int2ip $((base + 10 + ${n#m})) ;;
    w*) int2ip $((base + 100 + ${n#w})) ;;
  esac
}

# ---- state -----------------------------------------------------------------------------------

cluster_nodes() { if [ -f "$(cluster_file)" ]; then awk '!/^#/ {print $1}' "$(cluster_file)"; fi; }
node_field() { awk -v n="$1" -v f="$2" '$1==n {print $f}' "$(cluster_file)" 2>/dev/null; }
require_node() {
  [ -n "$(node_field "$1" 1)" ] || die "node \"$1\": no such node in cluster \"$PREFIX\" (nodes: $(cluster_nodes | tr '\n' ' '))"
}

# Every node of this prefix that has left a trace: recorded, a namespace, a veth, or a state dir.
known_nodes() {
  {
    cluster_nodes
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$PREFIX-\([mw][0-9]\{1,3\}\)\$/\1/p"
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
      sed -n "s/^$PREFIX-\([mw][0-9]\{1,3\}\)\$/\1/p"
    for d in "$(run_dir)" "$(data_dir)"; do
      if [ -d "$d" ]; then find "$d" -mindepth 1 -maxdepth 1 -type d -printf '%f\n'; fi
    done
  } | grep -E '^[mw][0-9]{1,3}$' | sort -u || true
}

# The recorded pid of NODE's shoald, when that process is alive and is that shoald (its command
# line names the node's data root: a recycled pid does not match).
shoald_pid() {
  local p st cmd
  p=$(cat "$(pid_file "$1")" 2>/dev/null) || return 1
  [[ $p =~ ^[0-9]+$ ]] || return 1
  st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || return 1
  if [ "$st" = Z ] || [ "$st" = X ]; then return 1; fi
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || return 1
  [[ $cmd == *"--data-root $(node_data "$1")/data "* ]] || return 1
  echo "$p"
}

api() { # api NODE METHOD PATH: body on stdout, fails unless 2xx
  curl -sf --max-time 30 --unix-socket "$(sock_of "$1")" -X "$2" "http://localhost$3"
}
pings() { [ "$(curl -s --max-time 5 --unix-socket "$(sock_of "$1")" http://localhost/_ping 2>/dev/null)" = OK ]; }
shoal_cli() { local n=$1; shift; "$NODE_BIN" "$REPO/bin/shoal" -H "unix://$(sock_of "$n")" "$@"; }
in_ns() { local n=$1; shift; nsenter --net="/run/netns/$(netns_of "$n")" -- "$@"; }

# ---- shoald ----------------------------------------------------------------------------------

start_node() {
  local n=$1 i launched
  if shoald_pid "$n" >/dev/null; then return 0; fi
  [ -e "/run/netns/$(netns_of "$n")" ] || die "node $n: namespace $(netns_of "$n") is missing; run up again"
  mkdir -p "$(node_data "$n")/data" "$(exec_root "$n")"
  # Only the network namespace is entered: `ip netns exec` would also remount /sys and hide cgroup v1.
  # The environment and node flags are bin/shoald's own (its #! line), as a user starting it directly gets them.
  # --dns-forward=false: the namespaces have no way out, so names the cluster does not know get NXDOMAIN
  # at once rather than a forward to the host's nameservers that cannot arrive.
  setsid nsenter --net="/run/netns/$(netns_of "$n")" -- env "${SHOALD_ENV[@]}" "$NODE_BIN" "${SHOALD_NODE_FLAGS[@]}" "$REPO/bin/shoald" \
    --data-root "$(node_data "$n")/data" --exec-root "$(exec_root "$n")" -H "unix://$(sock_of "$n")" \
    --hostname "$(hostname_of "$n")" --executor "$(executor_of)" --dns-forward=false </dev/null >>"$(log_file "$n")" 2>&1 &
  launched=$!
  echo "$launched" >"$(pid_file "$n")"
  for ((i = 0; i < WAIT_SECS * 10; i++)); do
    if pings "$n"; then
      # shoald's own pid file is authoritative (the same process unless a wrapper forked).
      cp "$(exec_root "$n")/shoald.pid" "$(pid_file "$n")" 2>/dev/null || true
      shoald_pid "$n" >/dev/null && return 0
    fi
    # (not shoald_pid: until setsid and nsenter have exec'd node, the command line is not shoald's yet)
    kill -0 "$launched" 2>/dev/null || break
    sleep 0.1
  done
  log "node $n: shoald did not answer /_ping; last lines of $(log_file "$n"):"
  tail -n 20 "$(log_file "$n")" >&2 || true
  return 1
}

stop_node() { # stop_node NODE SIGNAL: signal the recorded shoald, wait until gone (SIGKILL after 20 s)
  local n=$1 sig=${2:-TERM} p i
  p=$(shoald_pid "$n") || return 0
  kill -s "$sig" "$p" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do shoald_pid "$n" >/dev/null || return 0; sleep 0.1; done
  log "node $n: shoald $p still alive 20 s after SIG$sig; sending SIGKILL"
  kill -KILL "$p" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do shoald_pid "$n" >/dev/null || return 0; sleep 0.1; done
  log "node $n: shoald $p survived SIGKILL"; return 1
}

# ---- containers (for down) -------------------------------------------------------------------

node_container_ids() { # every container id NODE ever recorded (data root and runtime state)
  local n=$1
  {
    ls "$(node_data "$n")/data/containers" "$(exec_root "$n")/runtime"
  } 2>/dev/null | grep -E '^[0-9a-f]{64}$' | sort -u || true
}

# Processes of a container: the pids of its cgroups (the id is random: these are its and nobody else's).
container_pids() {
  local f
  for f in /sys/fs/cgroup/*/shoal/"$1"/cgroup.procs; do cat "$f" 2>/dev/null || true; done | sort -un
}

# Kills what a container left when its shoald could not remove it: the monitor recorded in its
# runtime state (checked to be a shoal process), every pid of its cgroups; then removes the cgroups.
reap_container() {
  local n=$1 id=$2 st mon f i left
  st="$(exec_root "$n")/runtime/$id/state.json"
  if [ -f "$st" ]; then
    mon=$(grep -o '"monitorPid": *[0-9]*' "$st" | grep -o '[0-9]*$' || true)
    if [ -n "$mon" ] && [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$mon/cmdline" || true) == *shoal* ]]; then
      kill -KILL "$mon" 2>/dev/null || true
    fi
  fi
  f=/sys/fs/cgroup/freezer/shoal/$id/freezer.state   # a frozen process cannot die
  if [ -f "$f" ]; then echo THAWED >"$f" 2>/dev/null || true; fi
  for ((i = 0; i < 50; i++)); do
    left=$(container_pids "$id")
    if [ -z "$left" ]; then break; fi
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
    sleep 0.1
  done
  for f in /sys/fs/cgroup/*/shoal/"$id"; do
    if [ -d "$f" ]; then find "$f" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
}

remove_containers_via_api() {
  local n=$1 ids id
  ids=$(api "$n" GET '/containers/json?all=1' 2>/dev/null | grep -o '"Id":"[0-9a-f]\{64\}"' | cut -d'"' -f4) || return 0
  for id in $ids; do api "$n" DELETE "/containers/$id?force=1&v=1" >/dev/null 2>&1 || true; done
}

# pids whose network namespace is NODE's (anything still running "on" that host)
netns_pids() {
  local ino
  ino=$(stat -L -c %i "/run/netns/$(netns_of "$1")" 2>/dev/null) || return 0
  # one find for all of /proc (the links read "net:[INODE]"), not a stat per process
  find /proc/[0-9]*/ns -maxdepth 1 -name net -printf '%h %l\n' 2>/dev/null |
    awk -v want="net:[$ino]" '$2 == want { split($1, p, "/"); print p[3] }' || true
}

# ---- commands --------------------------------------------------------------------------------

cmd_down() {
  local nodes n id left problems=0 m
  nodes=$(known_nodes)
  # 1. containers first, through each live shoald (containers outlive shoald: live restore)
  for n in $nodes; do
    if shoald_pid "$n" >/dev/null; then remove_containers_via_api "$n"; fi
  done
  # 2. the shoalds, in parallel
  for n in $nodes; do stop_node "$n" TERM & done
  wait
  # 3. whatever a crashed shoald left: monitors and container processes, then their cgroups
  for n in $nodes; do
    for id in $(node_container_ids "$n"); do
      reap_container "$n" "$id"
      for m in /sys/fs/cgroup/*/shoal/"$id"; do
        if [ -d "$m" ]; then log "warning: cgroup $m remains"; problems=1; fi
      done
    done
  done
  # 4. network: namespaces (their eth0 goes with them), host veth ends, the bridge
  for n in $nodes; do
    if [ -e "/run/netns/$(netns_of "$n")" ]; then
      left=$(netns_pids "$n" | tr '\n' ' ')
      if [ -n "$left" ]; then
        log "warning: processes not started by this script still run in $(netns_of "$n"): $left(not killed)"
        problems=1
      fi
      ip netns delete "$(netns_of "$n")" 2>/dev/null || true
    fi
    if ip link show "$(veth_of "$n")" >/dev/null 2>&1; then ip link delete "$(veth_of "$n")" 2>/dev/null || true; fi
  done
  if ip link show "$(bridge_name)" >/dev/null 2>&1; then ip link delete "$(bridge_name)" type bridge; fi
  # 5. mounts under the state dirs (deepest first), then the dirs
  for d in "$(run_dir)" "$(data_dir)"; do
    while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || { log "warning: cannot unmount $m"; problems=1; }
    done < <(awk -v d="$d" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
    if [ -d "$d" ]; then rm -rf --one-file-system "$d"; fi
  done
  rmdir "$RUN_BASE" "$DATA_BASE" 2>/dev/null || true
  # 6. check
  for n in $nodes; do
    if [ -e "/run/netns/$(netns_of "$n")" ]; then log "warning: namespace $(netns_of "$n") remains"; problems=1; fi
  done
  if [ -d "$(run_dir)" ] || [ -d "$(data_dir)" ]; then log "warning: state dirs remain"; problems=1; fi
  if ((problems)); then log "down $PREFIX: incomplete (see warnings)"; return 1; fi
  log "down $PREFIX: nothing left"
}

swarm_supported() { # the CLI has `swarm` and the daemon routes /swarm (an unknown route is "page not found")
  shoal_cli "$1" swarm --help >/dev/null 2>&1 || return 1
  ! curl -s --max-time 10 --unix-socket "$(sock_of "$1")" http://localhost/swarm | grep -q 'page not found'
}

form_swarm() { # form_swarm MANAGERS WORKERS SUBNET auto|yes|no
  local managers=$1 workers=$2 subnet=$3 mode=$4 m1 addr mtok wtok n tok i
  m1=$(node_addr "$subnet" m1)
  if [ "$mode" = no ]; then log "--swarm no: the nodes run standalone"; return 0; fi
  if [ "$mode" = auto ] && ! swarm_supported m1; then
    log "shoald has no swarm commands yet: the nodes run standalone"
    return 0
  fi
  shoal_cli m1 swarm init --advertise-addr "$m1" >/dev/null
  mtok=$(shoal_cli m1 swarm join-token -q manager)
  wtok=$(shoal_cli m1 swarm join-token -q worker)
  for ((i = 2; i <= managers; i++)); do
    n=m$i; addr=$(node_addr "$subnet" "$n")
    shoal_cli "$n" swarm join --token "$mtok" --advertise-addr "$addr" "$m1:2377" >/dev/null
  done
  for ((i = 1; i <= workers; i++)); do
    n=w$i; addr=$(node_addr "$subnet" "$n"); tok=$wtok
    shoal_cli "$n" swarm join --token "$tok" --advertise-addr "$addr" "$m1:2377" >/dev/null
  done
  local total=$((managers + workers)) ready=0
  for ((i = 0; i < WAIT_SECS * 10; i++)); do
    ready=$(shoal_cli m1 node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$' || true)
    ((ready >= total)) && break
    sleep 0.1
  done
  ((ready >= total)) || log "warning: only $ready of $total nodes report ready after ${WAIT_SECS}s"
  log "swarm formed: m1 ($m1) initialised, $((managers - 1)) managers and $workers workers joined"
}

print_node() { # NAME ROLE NETNS ADDRESS unix://SOCKET
  echo "$1 $(node_field "$1" 2) $(netns_of "$1") $(node_field "$1" 3) unix://$(sock_of "$1")"
}

cmd_up() {
  local managers=$1 workers=$2 subnet=$3 swarm=$4 executor=$5 nodes=() n i br bad=0 longest
  if ! [[ $managers =~ ^[0-9]+$ ]] || ((managers < 1 || managers > 89)); then
    die "--managers: \"$managers\" must be a number from 1 to 89"
  fi
  if ! [[ $workers =~ ^[0-9]+$ ]] || ((workers > 150)); then
    die "--workers: \"$workers\" must be a number from 0 to 150"
  fi
  [ "$(id -u)" = 0 ] || die "up: must run as root (it creates namespaces, links and daemons)"
  local longest_node=w$workers
  if ((${#managers} >= ${#workers})); then longest_node=m$managers; fi
  longest="$(exec_root "$longest_node")/runtime/$(printf '%064d' 0)/ctl.sock"
  ((${#longest} <= SOCK_MAX)) ||
    die "--prefix: \"$PREFIX\" with SHOAL_LOCAL_RUN=$RUN_BASE makes socket paths of ${#longest} bytes (max $SOCK_MAX)"
  [ -f "$REPO/dist/shoald.mjs" ] || die "up: $REPO/dist/shoald.mjs is missing: run npm run build:js"

  for ((i = 1; i <= managers; i++)); do nodes+=("m$i"); done
  for ((i = 1; i <= workers; i++)); do nodes+=("w$i"); done

  # A live cluster of this prefix is refused; the leftovers of a crashed one are cleaned first.
  for n in $(cluster_nodes); do
    if shoald_pid "$n" >/dev/null; then die "cluster \"$PREFIX\" is up (node $n runs); run down first"; fi
  done
  if [ -n "$(known_nodes)" ] || ip link show "$(bridge_name)" >/dev/null 2>&1 || [ -d "$(data_dir)" ] || [ -d "$(run_dir)" ]; then
    log "cleaning the leftovers of an earlier cluster \"$PREFIX\""
    cmd_down >/dev/null 2>&1 || cmd_down
  fi
  if [ -z "$subnet" ]; then
    # Derived from the prefix; when another cluster (or network) has that one, the next derivations are tried.
    subnet=$(derive_subnet "$PREFIX")
    for i in $(seq 1 32); do
      subnet_taken "$subnet" >/dev/null || break
      subnet=$(derive_subnet "$PREFIX.$i")
    done
  fi
  check_subnet "$subnet"
  check_subnet_free "$subnet"

  mkdir -p "$(run_dir)" "$(data_dir)"
  { echo "#subnet $subnet"; echo "#executor $executor"; for n in "${nodes[@]}"; do
    case $n in m*) echo "$n manager $(node_addr "$subnet" "$n")" ;; *) echo "$n worker $(node_addr "$subnet" "$n")" ;; esac
  done; } >"$(cluster_file)"

  # From here on a failure removes everything made so far.
  trap 'log "up failed; cleaning up"; cmd_down >/dev/null 2>&1 || true' ERR
  set -E
  br=$(bridge_name)
  ip link add "$br" type bridge
  sysctl -qw "net.ipv6.conf.$br.disable_ipv6=1" >/dev/null
  ip addr add "$(int2ip $(($(ip2int "${subnet%/*}") + 1)))/24" dev "$br"
  ip link set "$br" up
  for n in "${nodes[@]}"; do
    ip netns add "$(netns_of "$n")"
    ip link add "$(veth_of "$n")" type veth peer name eth0 netns "$(netns_of "$n")"
    sysctl -qw "net.ipv6.conf.$(veth_of "$n").disable_ipv6=1" >/dev/null
    ip link set "$(veth_of "$n")" master "$br" up
    in_ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null
    ip -n "$(netns_of "$n")" link set lo up
    ip -n "$(netns_of "$n")" addr add "$(node_addr "$subnet" "$n")/24" dev eth0
    ip -n "$(netns_of "$n")" link set eth0 up
    mkdir -p "$(node_data "$n")/data" "$(exec_root "$n")"
  done

  local pids=()
  for n in "${nodes[@]}"; do start_node "$n" & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || bad=1; done
  ((bad == 0)) || { log "some shoald did not start"; false; }

  for n in "${nodes[@]}"; do print_node "$n"; done
  form_swarm "$managers" "$workers" "$subnet" "$swarm"
  trap - ERR
}

cmd_status() {
  local n p state
  [ -f "$(cluster_file)" ] || { log "no cluster \"$PREFIX\""; return 1; }
  for n in $(cluster_nodes); do
    if p=$(shoald_pid "$n"); then state="alive(pid=$p)"; else state=dead; fi
    echo "$(print_node "$n") $state"
  done
}

cmd_cut() { # drop NODE's traffic on eth0 (all, or to/from the --from nodes) in a table of our own
  local n=$1 from=$2 link=$3 set="" o a
  require_node "$n"
  if ((link)); then ip link set "$(veth_of "$n")" down; return; fi
  if [ -n "$from" ]; then
    for o in ${from//,/ }; do
      require_node "$o"; a=$(node_field "$o" 3); set+="${set:+, }$a"
    done
  fi
  local in_m="" out_m=""
  if [ -n "$set" ]; then in_m="ip saddr { $set }" out_m="ip daddr { $set }"; fi
  in_ns "$n" nft -f - <<EOF
table inet $CUT_TABLE {}
delete table inet $CUT_TABLE
table inet $CUT_TABLE {
  chain input { type filter hook input priority -300; policy accept; iifname "eth0" $in_m drop; }
  chain output { type filter hook output priority -300; policy accept; oifname "eth0" $out_m drop; }
  chain forward { type filter hook forward priority -300; policy accept; iifname "eth0" $in_m drop; oifname "eth0" $out_m drop; }
}
EOF
}

cmd_heal() {
  local n=$1
  require_node "$n"
  ip link set "$(veth_of "$n")" up
  in_ns "$n" nft -f - <<EOF
table inet $CUT_TABLE {}
delete table inet $CUT_TABLE
EOF
}

# ---- command line ----------------------------------------------------------------------------

main() {
  [ $# -ge 1 ] || usage 2
  case $1 in -h | --help | help) usage 0 ;; esac
  local cmd=$1 managers="" workers=0 subnet="" swarm=auto executor=engine node="" sig=TERM from="" link=0
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --managers) [ $# -ge 2 ] || die "--managers needs a value"; managers=$2; shift 2 ;;
      --workers) [ $# -ge 2 ] || die "--workers needs a value"; workers=$2; shift 2 ;;
      --prefix) [ $# -ge 2 ] || die "--prefix needs a value"; PREFIX=$2; shift 2 ;;
      --subnet) [ $# -ge 2 ] || die "--subnet needs a value"; subnet=$2; shift 2 ;;
      --swarm) [ $# -ge 2 ] || die "--swarm needs a value"; swarm=$2; shift 2 ;;
      --executor) [ $# -ge 2 ] || die "--executor needs a value"; executor=$2; shift 2 ;;
      --signal) [ $# -ge 2 ] || die "--signal needs a value"; sig=${2#SIG}; shift 2 ;;
      --from) [ $# -ge 2 ] || die "--from needs a value"; from=$2; shift 2 ;;
      --link) link=1; shift ;;
      -h | --help) usage 0 ;;
      -*) die "$cmd: unknown option \"$1\"" ;;
      *) [ -z "$node" ] || die "$cmd: unexpected argument \"$1\""; node=$1; shift ;;
    esac
  done
  check_prefix "$PREFIX"
  local needs_node=0
  case $cmd in env | kill | start | cut | heal) needs_node=1 ;; esac
  if ((needs_node)); then [ -n "$node" ] || die "$cmd: which node? (e.g. m1)"; elif [ -n "$node" ]; then die "$cmd: unexpected argument \"$node\""; fi
  case $cmd in
    up)
      [ -n "$managers" ] || die "up: --managers N is required"
      case $swarm in auto | yes | no) ;; *) die "--swarm: \"$swarm\" must be auto, yes or no" ;; esac
      case $executor in engine | sim) ;; *) die "--executor: \"$executor\" must be engine or sim" ;; esac
      cmd_up "$managers" "$workers" "$subnet" "$swarm" "$executor" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) require_node "$node"; echo "export SHOAL_HOST=unix://$(sock_of "$node")" ;;
    kill)
      require_node "$node"
      if ! [[ $sig =~ ^[A-Z0-9]+$ ]] || ! kill -l "$sig" >/dev/null 2>&1; then die "--signal: \"$sig\" is not a signal"; fi
      stop_node "$node" "$sig" ;;
    start) require_node "$node"; start_node "$node" && print_node "$node" ;;
    cut) cmd_cut "$node" "$from" "$link" ;;
    heal) cmd_heal "$node" ;;
    *) die "unknown command \"$cmd\" (up, down, status, env, kill, start, cut, heal)" ;;
  esac
}

main "$@"
