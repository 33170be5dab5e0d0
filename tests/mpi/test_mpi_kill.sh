#!/usr/bin/env bash
# test_mpi_kill.sh BUILD_DIR SOURCE_DIR: dead ranks (tests/mpi/mpi_kill.c).
# - SIGKILL of a serving rank mid-map under `mpirun --enable-recovery`:
#   rank 0 returns, the dead rank's items fail naming it, the rest is right
#   (MP_MPI_KILL_ROUNDS rounds, default 2).
# - The same without recovery: mpirun ends the job within seconds.
# - A rank SIGSTOPped past the dead timeout: taken for dead, and the job
#   still ends cleanly once it resumes.
# - Rank 0 SIGKILLs itself: the job ends within seconds (under recovery
#   too: the serving ranks notice rank 0's silence).
# - Started without mpirun: a clear MP_ENOTSUP.
# After each run no process of the program may be left. Skips (77) when
# mpirun is missing.
set -u
build="${1:?usage: test_mpi_kill.sh BUILD_DIR SOURCE_DIR}"
src="${2:?usage: test_mpi_kill.sh BUILD_DIR SOURCE_DIR}"
prog="$build/tests/mpi/mpi_kill"
run="$src/tests/mpi/run.sh"
if ! command -v mpirun >/dev/null 2>&1; then
  echo "SKIP: mpirun is not installed"
  exit 77
fi
fail=0
log="$(mktemp "${TMPDIR:-/tmp}/mpi_kill.XXXXXX")"
trap 'rm -f "$log"' EXIT

# No process of the program may outlive its mpirun (5 s to be reaped).
no_orphans() {
  for _ in $(seq 50); do
    pgrep -f "^$prog" >/dev/null || return 0
    sleep 0.1
  done
  echo "FAIL: $1: processes left behind:"
  ps -eo pid,ppid,stat,cmd | grep -F "$prog" | grep -v grep
  kill -KILL $(pgrep -f "^$prog") 2>/dev/null # by pid: this very program's
  fail=1
}

# expect NAME WANT_RC(0 or "nonzero") MAX_SECONDS GREP -- RUN.SH ARGS...
expect() {
  local name=$1 want=$2 max=$3 pat=$4
  shift 5
  local t0=$SECONDS
  MP_MPI_WATCHDOG=90 "$@" >"$log" 2>&1
  local rc=$? dt=$((SECONDS - t0))
  if [ "$rc" = 77 ]; then
    echo "SKIP: $name: $(tail -n 1 "$log")"
    exit 77
  fi
  if { [ "$want" = 0 ] && [ "$rc" != 0 ]; } || { [ "$want" != 0 ] && [ "$rc" = 0 ]; } ||
     [ "$rc" = 124 ] || [ "$rc" = 137 -a "$want" = 0 ] || [ "$dt" -gt "$max" ] ||
     ! grep -q -- "$pat" "$log"; then
    echo "FAIL: $name: exit $rc after ${dt}s (want $want within ${max}s, output matching '$pat'):"
    cat "$log"
    fail=1
  else
    echo "ok: $name (exit $rc, ${dt}s): $(grep -m1 -- "$pat" "$log")"
  fi
  no_orphans "$name"
}

for round in $(seq "${MP_MPI_KILL_ROUNDS:-2}"); do
  expect "kill a serving rank, recovery (round $round)" 0 60 "ok kill-rank" -- \
    bash "$run" 4 vader,self --enable-recovery -- "$prog" kill-rank
done
expect "kill a serving rank, tcp, recovery" 0 60 "ok kill-rank" -- \
  bash "$run" 3 tcp,self --enable-recovery -- "$prog" kill-rank
MP_MPI_DEAD_TIMEOUT=1 expect "stall a serving rank past the dead timeout" 0 60 "ok stall-rank" -- \
  bash "$run" 3 vader,self -- "$prog" stall-rank
expect "kill a serving rank, no recovery" nonzero 30 "rank 2" -- \
  bash "$run" 3 vader,self -- "$prog" kill-rank
expect "rank 0 kills itself" nonzero 30 "rank 0" -- \
  bash "$run" 3 vader,self -- "$prog" kill-root
# Under recovery mpirun lets the serving ranks live on: they leave by
# themselves once rank 0 is silent (mpirun then exits 0).
expect "rank 0 kills itself, recovery" 0 30 "no word from rank 0" -- \
  bash "$run" 3 vader,self --enable-recovery -- "$prog" kill-root
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
expect "singleton" 0 30 "ok singleton" -- timeout -k 5 60 "$prog" singleton
exit $fail
