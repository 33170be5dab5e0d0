#!/usr/bin/env bash
# test_valgrind.sh BUILD_DIR SOURCE_DIR: the examples where programs are
# checked. A few examples (a process, a pipe, a queue, a lock, a pool, a
# manager, shared values, wait, spawn, and the C++ pool) run
#  1. under valgrind memcheck: 0 errors and 0 definitely-lost bytes in the
#     parent (--error-exitcode=1; forked children are silent, exec'd ones
#     untraced), valgrind 3.19 lacking pidfd_open (the library falls back);
#  2. under `ulimit -v 4000000` (4 GB of address space), natively;
# and each must print what its .expected file says (tests/helpers/
# check_output: {*} masks, #sort, #exit). Valgrind's warning about the
# unknown syscall 434 (pidfd_open, probed once) is the only line of its log
# allowed. Skips (77) in a sanitizer build (neither valgrind nor an address
# limit can run one) and runs part 2 only when valgrind is missing.
set -u
build="$(cd "${1:?usage: test_valgrind.sh BUILD_DIR SOURCE_DIR}" && pwd)"
src="$(cd "${2:?usage: test_valgrind.sh BUILD_DIR SOURCE_DIR}" && pwd)"

cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
for s in MP_ASAN MP_UBSAN MP_TSAN; do
  if [ "$(cache $s)" = ON ]; then
    echo "SKIP: a sanitizer build ($s) runs neither under valgrind nor in 4 GB"
    exit 77
  fi
done
check="$build/check_output"
[ -x "$check" ] || { echo "FAIL: $check is not built"; exit 1; }

examples=(readme process_methods pipe queue queue_workers lock readme_pool
          pool_basic cpp_pool manager_return_dict shared_value_array wait
          start_method_spawn pool_context)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mproc-vg.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
fail=0
ran=0

have_valgrind=0
vg="$(command -v valgrind)" # check_output runs a path, not a name
if [ -n "$vg" ]; then
  have_valgrind=1
else
  echo "--- valgrind is not installed (scripts/setup.sh installs it): part 1 skipped"
fi

for ex in "${examples[@]}"; do
  exe="$build/examples/$ex"
  want="$src/examples/$ex.expected"
  if [ ! -x "$exe" ] || [ ! -f "$want" ]; then
    echo "--- $ex: not built (or no .expected), skipped"
    continue
  fi
  ran=$((ran + 1))
  if [ $have_valgrind -eq 1 ]; then
    log="$tmp/$ex.vg"
    if ! "$check" "$want" "$vg" -q --error-exitcode=97 --leak-check=full \
        --errors-for-leak-kinds=definite --child-silent-after-fork=yes \
        --trace-children=no --log-file="$log" "$exe" >"$tmp/$ex.out" 2>&1; then
      echo "FAIL: $ex under valgrind:"
      cat "$tmp/$ex.out" "$log"
      fail=1
    elif grep -v -e 'unhandled amd64-linux syscall: 434' -e 'You may be able to write' \
        -e 'README_MISSING_SYSCALL' -e 'Nevertheless we consider' -e 'bug_reports.html' \
        "$log" | grep -q .; then
      echo "FAIL: $ex: valgrind reported:"
      cat "$log"
      fail=1
    else
      echo "ok   $ex under valgrind"
    fi
  fi
  if ! (ulimit -v 4000000 && "$check" "$want" "$exe") >"$tmp/$ex.lim" 2>&1; then
    echo "FAIL: $ex under ulimit -v 4000000:"
    cat "$tmp/$ex.lim"
    fail=1
  else
    echo "ok   $ex under ulimit -v 4000000"
  fi
done
[ $ran -gt 0 ] || { echo "FAIL: no example found in $build/examples"; exit 1; }
echo "$ran examples: valgrind $([ $have_valgrind -eq 1 ] && echo run || echo skipped), ulimit -v run"
exit $fail
