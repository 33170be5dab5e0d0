#!/usr/bin/env bash
# test_check_output.sh BUILD_DIR SOURCE_DIR: the checker behind `make demo`
# and the example_* tests must catch what it is there to catch. check_output
# against made-up programs: the same output passes; {*} masks a pid; #sort
# accepts any order but not a missing line; #exit and #stderr; a different
# line, an extra line, a wrong exit status fail (1); a missing .expected
# fails (2). Then scripts/run-examples.sh on a build directory holding one
# real example and one without an .expected file: it must list that one,
# count "2 examples, 1 print what Python prints" and exit 1.
set -u
build="$(cd "${1:?usage: test_check_output.sh BUILD_DIR SOURCE_DIR}" && pwd)"
src="$(cd "${2:?usage: test_check_output.sh BUILD_DIR SOURCE_DIR}" && pwd)"
check="$build/check_output"
[ -x "$check" ] || { echo "SKIP: $check not built (MP_BUILD_EXAMPLES=OFF)"; exit 77; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mproc-check.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect WANT_STATUS NAME EXPECTED_TEXT SCRIPT: runs check_output on a
# program that runs SCRIPT with sh.
expect() {
  printf '%s' "$3" >"$tmp/$2.expected"
  printf '#!/bin/sh\n%s\n' "$4" >"$tmp/$2"
  chmod +x "$tmp/$2"
  "$check" "$tmp/$2.expected" "$tmp/$2" >"$tmp/$2.out" 2>&1
  local rc=$?
  if [ "$rc" -ne "$1" ]; then
    echo "FAIL: $2: check_output exited $rc, expected $1"
    cat "$tmp/$2.out"
    fail=1
  fi
}
expect 0 same $'a\nb\n' 'echo a; echo b'
expect 0 masked $'pid {*} here\n' 'echo "pid $$ here"'
expect 0 sorted $'#sort\nx 1\nx 2\nx 3\n' 'echo x 3; echo x 1; echo x 2'
expect 1 sorted_missing $'#sort\nx 1\nx 2\n' 'echo x 2; echo x 2'
expect 0 exit_status $'#exit 3\nboom\n' 'echo boom; exit 3'
expect 1 exit_wrong $'boom\n' 'echo boom; exit 3'
expect 0 with_stderr $'#stderr\nout\nerr\n' 'echo out; echo err >&2'
expect 1 differs $'a\nb\n' 'echo a; echo c'
expect 1 extra $'a\n' 'echo a; echo a'
expect 1 order $'a\nb\n' 'echo b; echo a'
"$check" "$tmp/nothing.expected" /bin/true >"$tmp/none.out" 2>&1
[ $? -eq 2 ] && grep -q "no expected output" "$tmp/none.out" ||
  { echo "FAIL: a missing .expected is not reported"; cat "$tmp/none.out"; fail=1; }

# run-examples.sh on a build directory of two examples.
ex="$build/examples/hello_bob"
if [ -x "$ex" ]; then
  mkdir -p "$tmp/b/examples"
  cp "$check" "$tmp/b/check_output"
  cp "$ex" "$tmp/b/examples/hello_bob"
  printf '#!/bin/sh\necho unchecked\n' >"$tmp/b/examples/zz_no_expected"
  chmod +x "$tmp/b/examples/zz_no_expected"
  out="$(LD_LIBRARY_PATH="$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
         bash "$src/scripts/run-examples.sh" "$tmp/b" 2>&1)"
  rc=$?
  [ $rc -eq 1 ] || { echo "FAIL: run-examples.sh exited $rc, expected 1"; fail=1; }
  grep -q '^without .expected: zz_no_expected$' <<<"$out" ||
    { echo "FAIL: the example without .expected is not listed"; fail=1; }
  [ "$(tail -n 1 <<<"$out")" = "2 examples, 1 print what Python prints" ] ||
    { echo "FAIL: last line: $(tail -n 1 <<<"$out")"; fail=1; }
  [ $fail -eq 0 ] || echo "$out"
fi
[ $fail -eq 0 ] && echo "PASS: check_output and run-examples.sh catch every difference tried"
exit $fail
