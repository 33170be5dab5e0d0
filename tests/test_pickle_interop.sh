#!/usr/bin/env bash
# test_pickle_interop.sh BUILD_DIR SOURCE_DIR: mproc's pickle codec against
# the real CPython: every type decoded from protocols 0-5 and encoded with
# 2-5 (tests/python/pickle_roundtrip.py with tests/helpers/pickle_echo.c),
# then objects over Listener/Client both ways (tests/python/pickle_conn.py,
# when present). Skipped (exit 77) when python3 is missing.
set -u
build="$1"
src="$2"
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP: python3 is not installed; the CPython interop test needs it"
  exit 77
fi
timeout 120 python3 "$src/tests/python/pickle_roundtrip.py" "$build" || exit 1
if [ -f "$src/tests/python/pickle_conn.py" ]; then
  exec timeout 120 python3 "$src/tests/python/pickle_conn.py" "$build"
fi
