#!/usr/bin/env bash
# Quick start on a fresh machine (as root): set everything up (scripts/setup.sh), bring up a local
# cluster of 3 managers and 2 workers (one network namespace and one shoald each: local-cluster.sh),
# run a demo service of 5 replicas spread over it, deploy the demo stack deploy/examples/app.yml (web +
# cache + worker on an overlay, web published on port 8080 of every node through the routing mesh), and
# print what to type next.
#
#   bash deploy/quickstart.sh [--managers N] [--workers M] [--prefix P] [--skip-setup]
#   bash deploy/quickstart.sh --single     # the one-node demo: one shoald on /run/shoal/shoald.sock
#
# QUICKSTART_MANAGERS, QUICKSTART_WORKERS and QUICKSTART_PREFIX set the same as the flags (defaults 3, 2,
# demo). Running it again replaces the cluster of that prefix with a fresh one. It writes nothing into
# the repository but what the build makes (ignored by git): the cluster's state is under /run/slc/P and
# /var/lib/shoal-local/P. Tear down with: deploy/local-cluster.sh down --prefix P
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLER_PWD=$PWD
IMAGE_TAR=test/fixtures/out/images/busybox.docker.tar
SERVICE=demo-web
REPLICAS=5
STACK=app
STACK_FILE=deploy/examples/app.yml
CONVERGE_SECS=${QUICKSTART_WAIT:-180}

say() { echo "quickstart: $*" >&2; }
die() { echo "quickstart: $*" >&2; exit 2; }
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

# ---- the one-node demo (the quick start before the swarm) -------------------------------------

single() {
  local sock=/run/shoal/shoald.sock rootfs="$REPO/test/fixtures/out/rootfs"
  export SHOAL_HOST="unix://$sock"
  if ! bin/shoal version >/dev/null 2>&1; then
    mkdir -p /var/log
    # --bridge none: this shoald runs in the machine's own network namespace, where the demo must not
    # make a bridge, turn on ip_forward or NAT toward the uplink (the cluster demo's nodes have bridges).
    nohup bin/shoald --data-root /var/lib/shoal --exec-root /run/shoal -H "unix://$sock" --bridge none >>/var/log/shoald.log 2>&1 &
    for _ in $(seq 1 100); do [ -S "$sock" ] && bin/shoal version >/dev/null 2>&1 && break; sleep 0.1; done
    echo "shoald started (pid $!, log /var/log/shoald.log, socket $sock)"
  fi
  echo "--- shoal load -i $IMAGE_TAR   (made from Debian's busybox-static; nothing is downloaded)"
  bin/shoal load -i "$IMAGE_TAR"
  echo "--- shoal run --rm --hostname demo --memory 64m --pids-limit 64 busybox ..."
  # shellcheck disable=SC2016 # expanded by the container's shell
  bin/shoal run --rm --hostname demo --memory 64m --pids-limit 64 busybox \
    sh -c 'echo "hello from $(hostname): my pid is $$, these are all my processes:"; ps; id'
  echo "--- shoal run --rm --rootfs $rootfs --read-only ..."
  bin/shoal run --rm --rootfs "$rootfs" --read-only /bin/sh -c 'touch /x 2>&1 || echo "the rootfs is read-only"'
  echo "--- done. shoald keeps running (stop it with: kill \"\$(cat /run/shoal/shoald.pid)\"; containers keep running); try:"
  echo "    export SHOAL_HOST=$SHOAL_HOST"
  echo "    bin/shoal run -d --name web busybox httpd -f -p 8080; bin/shoal ps; bin/shoal exec web ps; bin/shoal rm -f web"
}

# ---- the cluster demo -------------------------------------------------------------------------

# Every service of the stack runs all its replicas (REPLICAS column "n/n"), within CONVERGE_SECS.
stack_converged() {
  local i reps
  for ((i = 0; i < CONVERGE_SECS; i++)); do
    reps=$(bin/shoal stack services "$1" --format '{{.Replicas}}' 2>/dev/null) || reps=""
    if [ -n "$reps" ] && ! awk -F'[/ ]' '$1 != $2 {bad = 1} END {exit !bad}' <<<"$reps"; then return 0; fi
    sleep 1
  done
  return 1
}

lc() { bash deploy/local-cluster.sh "$@"; }

cluster() {
  local managers=$1 workers=$2 prefix=$3 up_out nodes addrs name host addr
  # A cluster of this prefix (up, or the leftovers of one) is replaced, so a re-run starts clean.
  if lc status --prefix "$prefix" >/dev/null 2>&1; then
    say "a cluster \"$prefix\" exists: taking it down to start afresh"
    lc down --prefix "$prefix" || die "could not take cluster \"$prefix\" down (see above)"
  fi
  say "bringing up $managers manager(s) and $workers worker(s): deploy/local-cluster.sh up --managers $managers --workers $workers --prefix $prefix"
  if ! up_out=$(lc up --managers "$managers" --workers "$workers" --prefix "$prefix" --swarm yes); then
    say "local-cluster.sh up failed (it removed what it had made)."
    exit 1
  fi
  # NAME ROLE NETNS ADDRESS unix://SOCKET, one line per node
  nodes=$(awk '$5 ~ /^unix:\/\// {print $1, $5}' <<<"$up_out")
  addrs=$(awk '$5 ~ /^unix:\/\// {print $1, $4}' <<<"$up_out")
  say "loading the demo image (busybox, built from Debian's busybox-static: nothing is downloaded) into every node"
  while read -r name host; do
    bin/shoal -H "$host" load -q -i "$IMAGE_TAR" >/dev/null || die "loading $IMAGE_TAR into $name failed"
  done <<<"$nodes"

  eval "$(lc env m1 --prefix "$prefix")"
  export SHOAL_HOST
  say "creating service $SERVICE ($REPLICAS replicas of busybox httpd, no published ports) and waiting for it to converge"
  # `service create` waits until the tasks run; the timeout bounds a service that never converges.
  if ! timeout "$CONVERGE_SECS" bin/shoal service create --name "$SERVICE" --replicas "$REPLICAS" \
    --stop-grace-period 1s busybox httpd -f -p 8080 >/dev/null; then
    bin/shoal service ps "$SERVICE" >&2 || true
    die "service $SERVICE did not converge within ${CONVERGE_SECS}s (the cluster stays up: deploy/local-cluster.sh down --prefix $prefix)"
  fi

  say "deploying the stack $STACK ($STACK_FILE) and waiting until every service runs all its replicas"
  bin/shoal stack deploy --resolve-image never -c "$STACK_FILE" "$STACK" >/dev/null
  stack_converged "$STACK" || {
    bin/shoal stack ps "$STACK" >&2 || true
    die "stack $STACK did not converge within ${CONVERGE_SECS}s (the cluster stays up: deploy/local-cluster.sh down --prefix $prefix)"
  }

  echo
  echo "\$ bin/shoal node ls"
  bin/shoal node ls
  echo
  echo "\$ bin/shoal service ps $SERVICE"
  bin/shoal service ps "$SERVICE"
  echo
  echo "\$ bin/shoal stack services $STACK"
  bin/shoal stack services "$STACK"
  echo
  # The routing mesh: port 8080 answers on every node, whichever runs a web task.
  while read -r name addr; do
    echo "\$ curl -s http://$addr:8080/   # $name"
    curl -s --max-time 10 "http://$addr:8080/" || echo "(no answer from $name)"
  done <<<"$addrs"
  echo
  local at=""
  if [ "$CALLER_PWD" != "$REPO" ]; then at="cd $REPO"; fi
  echo "The cluster \"$prefix\" runs: $managers manager(s) and $workers worker(s), each a network namespace with one shoald."
  echo "What to type next${at:+ (from $REPO)}:"
  if [ -n "$at" ]; then echo "  $at"; fi
  echo "  eval \"\$(deploy/local-cluster.sh env m1 --prefix $prefix)\"   # point bin/shoal (and docker -H \$SHOAL_HOST) at m1"
  echo "  bin/shoal node ls"
  echo "  bin/shoal service ls"
  echo "  bin/shoal service scale $SERVICE=10"
  echo "  bin/shoal service ps $SERVICE"
  echo "  bin/shoal stack ps $STACK"
  echo "  curl -s http://$(awk 'NR == 1 {print $2}' <<<"$addrs"):8080/   # the stack's web, through the routing mesh"
  echo "  deploy/local-cluster.sh down --prefix $prefix   # remove the whole cluster; nothing is left behind"
}

main() {
  local mode=cluster setup=1
  local managers=${QUICKSTART_MANAGERS:-3} workers=${QUICKSTART_WORKERS:-2} prefix=${QUICKSTART_PREFIX:-demo}
  while [ $# -gt 0 ]; do
    case $1 in
      --single) mode=single; shift ;;
      --skip-setup) setup=0; shift ;;
      --managers) [ $# -ge 2 ] || die "--managers needs a value"; managers=$2; shift 2 ;;
      --workers) [ $# -ge 2 ] || die "--workers needs a value"; workers=$2; shift 2 ;;
      --prefix) [ $# -ge 2 ] || die "--prefix needs a value"; prefix=$2; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument \"$1\" (see --help)" ;;
    esac
  done
  # Checked here too (local-cluster.sh checks them again), so a typo fails before the long setup.
  if ! [[ $managers =~ ^[0-9]+$ ]] || ((managers < 1)); then die "--managers: \"$managers\" must be a number, at least 1"; fi
  if ! [[ $workers =~ ^[0-9]+$ ]]; then die "--workers: \"$workers\" must be a number"; fi
  [[ $prefix =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "--prefix: \"$prefix\" must be 1-10 characters of a-z0-9, starting with a letter"
  [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and creates namespaces)"

  cd "$REPO"
  if ((setup)); then bash scripts/setup.sh; fi
  if [ "$mode" = single ]; then single; else cluster "$managers" "$workers" "$prefix"; fi
}

main "$@"
