#!/usr/bin/env bash
# test_pymanager.sh BUILD_DIR SOURCE_DIR: mproc's C client of a CPython
# manager (mproc/pymanager.h) against the real python3's SyncManager, over
# a Unix path and TCP with an authkey (tests/python/pymanager_server.py
# with tests/helpers/pymanager_client.c). Skipped (exit 77) without python3.
set -u
build="$1"
src="$2"
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP: python3 is not installed; the CPython manager test needs it"
  exit 77
fi
exec timeout 180 python3 "$src/tests/python/pymanager_server.py" "$build"
