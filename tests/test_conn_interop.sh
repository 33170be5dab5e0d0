#!/usr/bin/env bash
# test_conn_interop.sh BUILD_DIR SOURCE_DIR: a C program and the real
# CPython on this machine talk through Listener/Client with authentication,
# both ways round, over AF_UNIX and AF_INET (127.0.0.1, port 0). Skipped
# (exit 77) when python3 is missing.
set -u
build="$1"
src="$2"
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP: python3 is not installed; the CPython interop test needs it"
  exit 77
fi
if [ ! -x "$build/conn_peer" ]; then
  echo "conn_peer was not built in $build"
  exit 1
fi
exec python3 "$src/tests/python/conn_interop.py" "$build"
