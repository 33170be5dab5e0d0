#!/usr/bin/env bash
# run-examples.sh BUILD_DIR: runs every example program and prints its
# output under a header: `make demo`, the project's main job.
set -u
dir="${1:-build}/examples"
src=$(cd "$(dirname "$0")/.." && pwd)
fail=0
for ex in "$dir"/*; do
  [ -x "$ex" ] && [ -f "$ex" ] || continue
  name=$(basename "$ex")
  printf '\n=== examples/%s.c ===\n' "$name"
  # An example that mirrors a Python program ending in an uncaught
  # exception exits non-zero on purpose: its .expected says so (#exit N).
  want=$(sed -n 's/^#exit \([0-9]*\)$/\1/p' "$src/examples/$name.expected" 2>/dev/null)
  case "$name" in
  mpi_*) # MPI examples run under mpirun: rank 0 prints, the others serve
    if ! command -v mpirun >/dev/null 2>&1; then
      echo "(skipped: mpirun is not installed; scripts/setup.sh installs openmpi-bin)"
      continue
    fi
    MP_MPI_WATCHDOG=60 bash "$src/tests/mpi/run.sh" 3 vader,self -- "$ex" ;;
  *) timeout 60 "$ex" ;;
  esac
  rc=$?
  if [ $rc -ne "${want:-0}" ]; then
    echo "!!! $name failed (exit $rc)"
    fail=1
  fi
done
exit $fail
