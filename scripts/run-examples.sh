#!/usr/bin/env bash
# run-examples.sh [--build] BUILD_DIR: `make demo`. Runs every example and
# prints its output under a header, compares it with examples/<name>.expected
# (check_output: {*} masks pids, addresses and timings, #sort where Python's
# order is not fixed), lists examples that have no .expected file, and ends
# with "N examples, M print what Python prints". Exits 1 unless all do.
# --build first configures and builds only the library and the examples
# (target mproc_examples), its output kept in BUILD_DIR/demo-build.log and
# shown only when the build fails. An MPI example (mpi_*) runs under mpirun
# (tests/mpi/run.sh) and is skipped, not counted, without it.
set -u
build=0
if [ "${1:-}" = "--build" ]; then
  build=1
  shift
fi
bdir="${1:-build}"
src=$(cd "$(dirname "$0")/.." && pwd)

if [ $build -eq 1 ]; then
  mkdir -p "$bdir"
  log="$bdir/demo-build.log"
  echo "building the library and the examples (log: $log) ..."
  # Called from make, the nested makes would print "Entering directory".
  if ! env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS sh -c \
      'cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
       cmake --build "$2" --target mproc_examples -j "$3"' \
      sh "$src" "$bdir" "$(nproc)" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "!!! the build failed (whole log: $log)"
    exit 1
  fi
fi

check="$bdir/check_output"
if [ ! -x "$check" ]; then
  echo "!!! $check is missing: build target mproc_examples first" >&2
  exit 1
fi
total=0 same=0
missing=() differ=()
for ex in "$bdir"/examples/*; do
  [ -x "$ex" ] && [ -f "$ex" ] || continue
  name=$(basename "$ex")
  file=$(cd "$src/examples" && ls "$name".c* 2>/dev/null | head -n 1)
  printf '\n=== examples/%s ===\n' "${file:-$name}"
  run=("$ex")
  case "$name" in
  mpi_*) # MPI examples run under mpirun: rank 0 prints, the others serve
    if ! command -v mpirun >/dev/null 2>&1 || [ ! -f "$src/tests/mpi/run.sh" ]; then
      echo "(skipped: mpirun is not installed; scripts/setup.sh installs openmpi-bin)"
      continue
    fi
    run=("$(command -v env)" MP_MPI_WATCHDOG=60 bash "$src/tests/mpi/run.sh" 3 vader,self -- "$ex") ;;
  esac
  total=$((total + 1))
  exp="$src/examples/$name.expected"
  if [ ! -f "$exp" ]; then
    timeout 60 "${run[@]}"
    echo "!!! $name has no examples/$name.expected: its output is not checked"
    missing+=("$name")
    continue
  fi
  if "$check" -q "$exp" "${run[@]}"; then
    same=$((same + 1))
  else
    differ+=("$name")
  fi
done

echo
[ ${#differ[@]} -gt 0 ] && echo "output differs from examples/*.expected: ${differ[*]}"
[ ${#missing[@]} -gt 0 ] && echo "without .expected: ${missing[*]}"
echo "$total examples, $same print what Python prints"
[ "$same" -eq "$total" ] && [ "$total" -gt 0 ]
