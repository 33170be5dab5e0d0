#!/usr/bin/env bash
# netns.sh [-H HOSTS] [-n RANKS] [-t SECONDS] [-o MPIRUN-OPTION]... [--] PROG ARGS...: runs PROG
# under Open MPI with its ranks spread over HOSTS (2 or 3, default 3) Linux
# network namespaces on this machine — a model of separate hosts:
#
#   ns "<tag>-h" (the hub) holds a bridge; each host namespace "<tag>-1".."-N"
#   has one end of a veth pair (the other end on the hub's bridge) with a
#   private address 10.A.B.i/24 that exists only inside those namespaces, and
#   its own loopback. Nothing is added to the machine's own namespace.
#
# mpirun itself runs inside host 1 (so its daemons can reach it); hosts 2..N
# are started without ssh: --mca plm_rsh_agent tests/mpi/netns_agent.sh,
# which enters the namespace that plays the hostfile's address. Transport:
# TCP only (btl tcp,self), daemons and ranks bound to the veth subnet.
# Ranks map round-robin over hosts (--map-by node): rank 0 on host 1.
#
# Exits with PROG's status (mpirun's), 124 when the watchdog (-t, default 90 s)
# fired, 3 when mpirun succeeded but a process of the run outlived it by 3 s
# (named on stderr: "netns: left behind"), 77 when namespaces cannot be made here (not root, no `ip`, no veth
# or bridge support) or mpirun is absent. The namespaces are deleted on every
# exit (trap), and any process still inside them is killed first.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
hosts=3 ranks="" secs=90 mpiopts=()
while [ $# -gt 0 ]; do
  case "$1" in
    -H) hosts="$2"; shift 2 ;;
    -n) ranks="$2"; shift 2 ;;
    -t) secs="$2"; shift 2 ;;
    -o) mpiopts+=("$2"); shift 2 ;;   # e.g. -o --enable-recovery
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: netns.sh [-H hosts] [-n ranks] [-t secs] [--] prog args..." >&2; exit 2; }
ranks="${ranks:-$hosts}"
skip() { echo "netns: SKIP: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to make network namespaces"
command -v ip >/dev/null || skip "no 'ip' command (Debian package iproute2)"
command -v mpirun >/dev/null || skip "mpirun not found (Debian package openmpi-bin)"
mpirun --version 2>/dev/null | grep -q "Open MPI" || skip "mpirun is not Open MPI's (the launcher agent is Open MPI's rsh plm)"

# A tag unique to this run names the namespaces and picks the subnet, so
# runs in parallel do not meet. Interface names stay under 15 characters.
tag="mpn$$"
sub="10.$(( ($$ >> 8) & 255 )).$(( $$ & 255 ))"
hub="${tag}-h"
made=()
cleanup() {
  local ns pid
  for ns in "${made[@]}"; do
    # Only processes inside our own namespaces: those we started.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  rm -f "${hostfile:-}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkns() { ip netns add "$1" 2>/dev/null || skip "cannot create network namespace $1 ($(ip netns add "$1" 2>&1))"; made+=("$1"); }
mkns "$hub"
ip netns exec "$hub" ip link add br0 type bridge 2>/dev/null || skip "no bridge support in this kernel"
ip netns exec "$hub" ip link set br0 up
ip netns exec "$hub" ip link set lo up
map=""
hostfile="$(mktemp "${TMPDIR:-/tmp}/mpn-hosts.XXXXXX")"
for i in $(seq 1 "$hosts"); do
  ns="${tag}-$i"
  mkns "$ns"
  ip netns exec "$hub" ip link add "v$i" type veth peer name "eth$i" 2>/dev/null \
    || skip "no veth support in this kernel"
  ip netns exec "$hub" ip link set "eth$i" netns "$ns"
  ip netns exec "$hub" ip link set "v$i" master br0 up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip addr add "$sub.$i/24" dev "eth$i"
  ip netns exec "$ns" ip link set "eth$i" up
  map="$map $sub.$i=$ns"
  echo "$sub.$i slots=$(( (ranks + hosts - 1) / hosts ))" >>"$hostfile"
done
# A veth's link comes up asynchronously: wait (bounded) until every host's
# end says "up" before mpirun's daemons try to connect.
for i in $(seq 1 "$hosts"); do
  for _ in $(seq 1 50); do
    [ "$(ip netns exec "${tag}-$i" cat "/sys/class/net/eth$i/operstate" 2>/dev/null)" = up ] && break
    sleep 0.1
  done
done

export MP_NETNS_MAP="${map# }"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=tcp,self
export OMPI_MCA_btl_tcp_if_include="$sub.0/24" OMPI_MCA_oob_tcp_if_include="$sub.0/24"
export OMPI_MCA_plm_rsh_agent="$here/netns_agent.sh"
export OMPI_MCA_plm_rsh_no_tree_spawn=1
# Ranks on two shared cores: an idle rank yields its CPU instead of spinning
# (spinning ranks made a 10 us round trip take 8 ms here).
export OMPI_MCA_mpi_yield_when_idle=1
# Open MPI's daemons are not given ASan's leak checker's exit code.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
echo "netns: $hosts hosts ($MP_NETNS_MAP), $ranks ranks: $*" >&2
# The hung-round dump: 3 s before the watchdog fires, every process of the
# run (mpirun, its daemons, the ranks) with its threads' backtraces (gdb,
# when installed) goes to stderr, so a hang seen once can be read later.
dump() {
  local ns pid
  echo "netns: hung round: the processes of the run:" >&2
  for ns in "${made[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      echo "== $ns pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
      command -v gdb >/dev/null &&
        timeout 20 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>/dev/null |
        grep -E '^(#|Thread)' >&2
    done
  done
}
if [ "$secs" -gt 5 ]; then
  ( sleep $((secs - 3)) </dev/null >/dev/null 2>&1; dump ) &
  watcher=$!
fi
timeout -k 5 "$secs" ip netns exec "${tag}-1" \
  mpirun --hostfile "$hostfile" --map-by node "${mpiopts[@]}" -n "$ranks" "$@"
rc=$?
# The watcher and its sleep (its only child) end with the run.
[ -n "${watcher:-}" ] && { pkill -P "$watcher" sleep 2>/dev/null; kill "$watcher" 2>/dev/null; }
[ $rc -eq 124 ] && echo "netns: watchdog: mpirun still running after $secs s" >&2
# Nothing of the run may outlive mpirun: give dying processes 3 s, then
# name what is left (the cleanup kills it) and fail a run that passed.
left=""
for _ in $(seq 1 30); do
  left="$(for ns in "${made[@]}"; do ip netns pids "$ns" 2>/dev/null; done)"
  [ -z "$left" ] && break
  sleep 0.1
done
if [ -n "$left" ]; then
  echo "netns: left behind after mpirun ended:" >&2
  for pid in $left; do echo "  $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2; done
  [ $rc -eq 0 ] && rc=3
fi
exit $rc
