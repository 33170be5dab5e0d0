#!/usr/bin/env bash
# test_cpp.sh BUILD_DIR SOURCE_DIR: mproc from C++. Compiles
# tests/cpp/test_cpp.cpp with g++ and clang++, each in -std=c++11, c++17 and
# c++20 with -Wall -Wextra -pedantic -Werror, links it against the build's
# shared library and runs it (processes, a queue, the pool with lambdas, a
# manager dict). A missing compiler is reported and skipped; with neither
# the test skips (77). In a sanitizer build only the C compiler's own C++
# sibling is used (g++ for gcc, clang++ for clang): two sanitizer runtimes
# cannot share a process.
set -u
build="$(cd "${1:?usage: test_cpp.sh BUILD_DIR SOURCE_DIR}" && pwd)"
src="$(cd "${2:?usage: test_cpp.sh BUILD_DIR SOURCE_DIR}" && pwd)"

cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
san=()
[ "$(cache MP_ASAN)" = ON ] && san+=(address)
[ "$(cache MP_UBSAN)" = ON ] && san+=(undefined)
[ "$(cache MP_TSAN)" = ON ] && san+=(thread)
sanflags=()
compilers=(g++ clang++)
if [ ${#san[@]} -gt 0 ]; then
  sanflags=("-fsanitize=$(IFS=,; echo "${san[*]}")" -fno-omit-frame-pointer)
  case "$(cache CMAKE_C_COMPILER)" in
    *clang*) compilers=(clang++) ;;
    *) compilers=(g++) ;;
  esac
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/mproc-cpp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
ran=0
fail=0
for cxx in "${compilers[@]}"; do
  if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "--- $cxx: not installed, skipped (scripts/setup.sh installs it)"
    continue
  fi
  for std in c++11 c++17 c++20; do
    exe="$tmp/test_cpp_${cxx}_$std"
    echo "--- $cxx -std=$std"
    if ! "$cxx" -std="$std" -Wall -Wextra -pedantic -Werror "${sanflags[@]}" \
        -I"$src/include" "$src/tests/cpp/test_cpp.cpp" -o "$exe" \
        -L"$build" -Wl,-rpath,"$build" -lmproc; then
      echo "FAIL: $cxx -std=$std does not compile"
      fail=1
      continue
    fi
    ran=$((ran + 1))
    if ! timeout 120 "$exe"; then
      echo "FAIL: $cxx -std=$std: the program failed"
      fail=1
    fi
  done
done
if [ $ran -eq 0 ] && [ $fail -eq 0 ]; then
  echo "SKIP: no C++ compiler (g++ or clang++) is installed"
  exit 77
fi
exit $fail
