#!/usr/bin/env bash
# test_install_subdir.sh BUILD_DIR SOURCE_DIR: builds tests/install/main.c
# in a project that builds mproc from source with add_subdirectory and with
# FetchContent (tests/install/subdir). mproc must then build the library
# only, without -Werror (the consumer project checks both at configure
# time), and the program must link and run (built once, by add_subdirectory:
# FetchContent runs the same add_subdirectory, so it is configured and its
# flags checked only). Skips (77) without cmake.
set -u
build="$(cd "${1:?usage: test_install_subdir.sh BUILD_DIR SOURCE_DIR}" && pwd)"
src="$(cd "${2:?usage: test_install_subdir.sh BUILD_DIR SOURCE_DIR}" && pwd)"
command -v cmake >/dev/null 2>&1 || { echo "SKIP: cmake is not installed"; exit 77; }
cc="$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mproc-subdir.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
fail=0
for via in subdir fetch; do
  dir="$tmp/$via"
  echo "--- consumer building mproc by $via"
  if cmake -S "$src/tests/install/subdir" -B "$dir" -DMPROC_VIA=$via \
       -DMPROC_SOURCE_DIR="$src" -DCMAKE_C_COMPILER="${cc:-cc}" >"$dir.log" 2>&1 &&
     { [ $via = fetch ] || cmake --build "$dir" -j 2 >>"$dir.log" 2>&1; }; then
    if grep -q -- '-Werror' "$dir/CMakeFiles/consumer.dir/flags.make" \
         "$(find "$dir" -path '*mproc_objects.dir/flags.make' | head -n 1)"; then
      echo "FAIL: -Werror in the flags of a consumer build ($via)"
      fail=1
    fi
    if [ $via = fetch ]; then
      echo "fetch: configured, library only, no -Werror"
    elif out="$("$dir/consumer" 2>&1)" && [[ "$out" == "mproc "*" ok" ]]; then
      echo "$via: $out"
    else
      echo "FAIL: the $via consumer printed: $out"
      fail=1
    fi
  else
    tail -n 40 "$dir.log"
    echo "FAIL: the $via consumer did not build"
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "PASS: mproc builds as a subproject, library only, no -Werror"
exit $fail
