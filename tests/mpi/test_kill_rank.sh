#!/usr/bin/env bash
# test_kill_rank.sh BUILD SRC [ROUNDS] [netns]: SIGKILL of a serving rank in the
# middle of a map on the "mpi" pool, many rounds (default $MP_KILL_ROUNDS or 20), with the
# program tests/mpi/kill_prog.c (3 ranks, run through tests/mpi/run.sh on
# shared memory; with "netns", on 3 namespace hosts over TCP through
# tests/mpi/netns.sh):
#
# - under `mpirun --enable-recovery` (ROUNDS rounds): rank 0 must finish
#   the map and print "verdict pass": every item correct or failed with
#   MP_EWORKERDIED naming the killed rank, and at least one item of the
#   killed rank failed (the kill came mid-map); it names no other rank.
# - without recovery (ROUNDS/4 rounds, at least 2): mpirun must end within
#   15 s of the kill, and no process of the run (ranks, their local pool
#   workers: found by a marker word unique to the round in their command
#   line) may be left 5 s later.
#
# The rank to kill is drawn at random among the serving ranks; it is killed
# once it has started a task. Leftover processes of a failed round are killed by pid.
# Prints one line per round and a summary; exits 1 when a round failed,
# 77 when mpirun or the program is missing.
set -u
build="${1:?build dir}"; src="${2:?source dir}"; rounds="${3:-${MP_KILL_ROUNDS:-20}}"; where="${4:-local}"
prog="$build/kill_prog"
run="$src/tests/mpi/run.sh"
command -v mpirun >/dev/null || { echo "test_kill_rank: SKIP: mpirun not installed"; exit 77; }
[ -x "$prog" ] || { echo "test_kill_rank: SKIP: $prog not built (no mpi library)"; exit 77; }
ranks=3 items=200
work="$(mktemp -d "${TMPDIR:-/tmp}/mpkill.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fails=0

# leftovers MARKER: pids of this round's processes still alive.
leftovers() { pgrep -f -- "$1" 2>/dev/null | grep -vx "$$" || true; }

# wait_for SECONDS CMD...: polls CMD every 0.1 s; 0 when it held in time.
wait_for() {
  local end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt "$end" ]; do "$@" && return 0; sleep 0.1; done
  return 1
}
# hung MARKER: what each process of the run is doing (for the report).
hung() {
  local p
  for p in $(leftovers "$1"); do
    ps -o pid=,ppid=,stat=,wchan:20=,args= -p "$p"
    command -v gdb >/dev/null &&
      timeout 20 gdb -batch -p "$p" -ex 'thread apply all bt 12' 2>/dev/null | grep -E '^(Thread|#)'
  done
}
started() { [ -e "$dir/started.$victim" ]; }
ended() { ! kill -0 "$job" 2>/dev/null; }

# round N MODE (recovery|abort): prints "round N MODE: ok|FAIL ..."
round() {
  local n="$1" mode="$2" marker="mpkill-$$-$1" opts=() victim pid t0 rc left
  dir="$work/$n"; mkdir -p "$dir"
  [ "$mode" = recovery ] && opts=(--enable-recovery)
  if [ "$where" = netns ]; then
    MP_KILL_DIR="$dir" bash "$src/tests/mpi/netns.sh" -H 3 -n "$ranks" -t 90 \
      ${opts:+-o "${opts[0]}"} -- "$prog" "$items" "$marker" >"$dir/out" 2>"$dir/err" &
  else
    MP_KILL_DIR="$dir" MP_MPI_WATCHDOG=90 bash "$run" "$ranks" - "${opts[@]}" -- \
      "$prog" "$items" "$marker" >"$dir/out" 2>"$dir/err" &
  fi
  job=$!
  victim=$(( 1 + RANDOM % (ranks - 1) ))
  if ! wait_for 30 started; then
    echo "round $n $mode: FAIL: rank $victim started no task in 30 s"; sed 's/^/    /' "$dir/out" "$dir/err"
    kill -TERM "$job" 2>/dev/null; wait "$job"; fails=$((fails + 1)); return
  fi
  pid="$(cat "$dir/rank.$victim" 2>/dev/null)"
  if [ -z "$pid" ] || ! kill -KILL "$pid"; then
    echo "round $n $mode: FAIL: rank $victim left no pid to kill ($dir/rank.$victim)"
    kill -TERM "$job" 2>/dev/null; wait "$job"; fails=$((fails + 1)); return
  fi
  t0=$(date +%s%N)
  local why=""
  if ! wait_for 60 ended; then
    why="mpirun still running 60 s after the kill"
    hung "$marker" >"$dir/hung"
    kill -TERM "$job" 2>/dev/null
  fi
  wait "$job"; rc=$?
  local secs=$(( ($(date +%s%N) - t0) / 1000000 ))
  local verdict; verdict="$(grep '^kill_prog: items' "$dir/out")"
  if [ -n "$why" ]; then :
  elif [ "$mode" = recovery ]; then
    if ! grep -q 'verdict pass' <<<"$verdict"; then why="rank 0 did not pass"
    elif ! grep -qE "dead_ranks $victim verdict" <<<"$verdict"; then why="the failures do not name exactly rank $victim"
    elif grep -qE ' died 0 ' <<<"$verdict"; then why="no item failed: the kill came too late"
    fi
  else
    [ "$secs" -gt 15000 ] && why="mpirun took ${secs} ms to end after the kill"
  fi
  # netns.sh kills what outlives mpirun in its namespaces, and says so.
  grep -q '^netns: left behind' "$dir/err" && why="${why:+$why; }$(grep -A5 '^netns: left behind' "$dir/err" | tr '\n' ' ')"
  sleep 0.5
  if ! wait_for 5 test -z "$(leftovers "$marker")"; then
    left="$(leftovers "$marker")"
    why="${why:+$why; }processes left: $(echo $left)"
    for p in $left; do kill -KILL "$p" 2>/dev/null; done
  fi
  if [ -z "$why" ]; then
    echo "round $n $mode: ok (killed rank $victim; mpirun exit $rc after ${secs} ms) ${verdict#kill_prog: }"
  else
    echo "round $n $mode: FAIL: $why (killed rank $victim, mpirun exit $rc)"
    sed 's/^/    out: /' "$dir/out"; tail -n 20 "$dir/err" | sed 's/^/    err: /'
    [ -s "$dir/hung" ] && sed 's/^/    hung: /' "$dir/hung"
    fails=$((fails + 1))
  fi
}

aborts=$(( rounds / 4 > 2 ? rounds / 4 : 2 ))
for i in $(seq 1 "$rounds"); do round "$i" recovery; done
for i in $(seq 1 "$aborts"); do round "a$i" abort; done
echo "test_kill_rank ($where): $rounds rounds with --enable-recovery, $aborts without: $fails failed"
[ "$fails" -eq 0 ]
