#!/usr/bin/env bash
# test_mpich.sh BUILD SRC: mproc's MPI part must also build against MPICH
# (Debian package mpich), not only Open MPI. With MPICH's compiler wrapper
# (mpicc.mpich) and the project's warning flags (-Werror), it compiles the
# plain MPI hello, every src/mpi/*.c, and the programs on them when they
# exist (tests/mpi/kill_prog.c, tests/mpi/test_mpi_pool.c, examples/mpi_pool.c); links them against the core library
# that BUILD made (libmproc.a: the core never links MPI, so one build of it
# serves both MPIs); then RUNS them under MPICH's own launcher
# (mpiexec.hydra, which lives beside Open MPI's mpirun without meeting it),
# 3 ranks each: hello, a map of kill_prog (no kill), the pool's behaviour
# suite, and the example against its .expected.
# Exits 77 when MPICH is not installed.
set -u
build="${1:?build dir}"; src="${2:?source dir}"
command -v mpicc.mpich >/dev/null || { echo "test_mpich: SKIP: mpicc.mpich not found (Debian package mpich)"; exit 77; }
hydra="$(command -v mpiexec.hydra || command -v mpiexec.mpich || true)"
out="$build/mpich"; mkdir -p "$out"
cflags=(-std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes
        -Wno-unused-parameter -Werror -I"$src/include" -I"$src/src")
# A sanitizer build's libmproc.a needs the same sanitizers at link time.
san=()
grep -q '^MP_ASAN:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null && san+=(address)
grep -q '^MP_UBSAN:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null && san+=(undefined)
if [ ${#san[@]} -gt 0 ]; then
  cflags+=("-fsanitize=$(IFS=,; echo "${san[*]}")" -fno-omit-frame-pointer)
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"   # MPICH's own leaks
fi
libs=("$build/libmproc.a" $(pkg-config --libs msgpack) -lcrypto -lpthread -lrt -ldl -lm)
fail=0
cc() { echo "+ mpicc.mpich $*"; mpicc.mpich "${cflags[@]}" "$@" || fail=1; }

cc -o "$out/hello" "$src/tests/mpi/hello.c"
objs=()
for f in "$src"/src/mpi/*.c; do
  [ -f "$f" ] || continue
  o="$out/$(basename "${f%.c}").o"
  cc -DMP_BUILDING -fPIC -fvisibility=hidden -c -o "$o" "$f" && objs+=("$o")
done
[ ${#objs[@]} -eq 0 ] && echo "note: no src/mpi/*.c yet: only the plain MPI program was built"
if [ ${#objs[@]} -gt 0 ] && [ $fail -eq 0 ]; then
  [ -f "$build/libmproc.a" ] || { echo "FAIL: $build/libmproc.a missing (build the core first)"; exit 1; }
  for prog in "$src/tests/mpi/kill_prog.c" "$src/tests/mpi/test_mpi_pool.c" "$src/examples/mpi_pool.c"; do
    [ -f "$prog" ] && cc -I"$src/tests" -o "$out/$(basename "${prog%.c}")" "$prog" "${objs[@]}" "${libs[@]}"
  done
fi
[ $fail -eq 0 ] || { echo "FAIL: something did not build with MPICH"; exit 1; }
echo "ok: builds with MPICH ($(mpicc.mpich -show | awk '{print $1}'), $(mpichversion 2>/dev/null | head -1 | tr -s ' '))"

if [ -z "$hydra" ]; then
  echo "note: MPICH's launcher (mpiexec.hydra) is missing: compile-only"
  exit 0
fi
run() { timeout -k 5 60 "$hydra" -n "$@"; }
if run 3 "$out/hello"; then echo "ok: hello under MPICH's hydra, 3 ranks"
else echo "FAIL: hello under MPICH's hydra"; fail=1; fi
# The "mpi" pool itself on MPICH: a map (kill_prog without a kill) and
# the behaviour suite.
if [ -x "$out/kill_prog" ]; then
  kd="$(mktemp -d)"
  MP_KILL_DIR="$kd" run 3 "$out/kill_prog" 40 >"$kd/out"; rc=$?
  cat "$kd/out"
  if [ $rc -eq 0 ] && grep -q 'verdict pass' "$kd/out"; then echo "ok: a map on the mpi pool under MPICH, 3 ranks"
  else echo "FAIL: a map on the mpi pool under MPICH (exit $rc)"; fail=1; fi
  rm -rf "$kd"
fi
if [ -x "$out/test_mpi_pool" ]; then
  if run 3 "$out/test_mpi_pool"; then echo "ok: test_mpi_pool under MPICH, 3 ranks"
  else echo "FAIL: test_mpi_pool under MPICH"; fail=1; fi
fi
if [ -x "$out/mpi_pool" ] && [ -f "$src/examples/mpi_pool.expected" ] && [ -x "$build/check_output" ]; then
  got="$out/mpi_pool.out"
  run 3 "$out/mpi_pool" >"$got"; rc=$?
  # check_output compares what `cat` prints; a mismatch shows the output.
  if [ $rc -eq 0 ] && "$build/check_output" "$src/examples/mpi_pool.expected" "$(command -v cat)" "$got"; then
    echo "ok: examples/mpi_pool under MPICH, 3 ranks"
  else echo "FAIL: examples/mpi_pool under MPICH (exit $rc); it printed:"; sed 's/^/    /' "$got"; fail=1; fi
fi
exit $fail
