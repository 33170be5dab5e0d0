#!/usr/bin/env bash
# setup.sh: installs the Debian packages mproc needs to build, test and
# benchmark, when they are missing. As root it runs apt-get; otherwise it
# names the missing packages and the command to install them, and fails.
set -euo pipefail

need=(cmake make gcc pkg-config libssl-dev libmsgpack-dev libcmocka-dev)
# make test: the C++ test builds with g++ and clang++ (tests/test_cpp.sh);
# examples run under valgrind (tests/test_valgrind.sh).
need+=(g++ clang valgrind)
# Optional: gnuplot draws the benchmark chart; python3 runs the CPython
# twins of the benchmarks and the interop tests (skipped when absent).
want=(gnuplot-nox python3)
# The bench's peer columns (bench/peer/): ZeroMQ, Boost.Interprocess (C++
# headers, and g++ to build them), Redis with the hiredis client.
want+=(g++ libzmq3-dev libboost-dev redis-server libhiredis-dev)
[ "${1:-}" = "--bench" ] && need+=("${want[@]}")
# `make docs` only: Doxygen builds the reference manual.
[ "${1:-}" = "--docs" ] && need+=(doxygen)

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A python3 outside dpkg (pyenv, a venv) is as good as Debian's.
if printf '%s\n' "${missing[@]}" | grep -qx python3 && command -v python3 >/dev/null; then
  missing=("${missing[@]/python3}")
  read -r -a missing <<<"${missing[*]}"
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
