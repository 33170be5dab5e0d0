#!/usr/bin/env bash
# test_conn_interop.sh BUILD_DIR SOURCE_DIR: a C program and the real
# CPython on this machine talk through Listener/Client with authentication,
# both ways round, over AF_UNIX and AF_INET (127.0.0.1, port 0)
# (tests/python/conn_interop.py); then pass descriptors and connections to
# each other both ways with CPython's multiprocessing.reduction
# send_handle/recv_handle (tests/python/conn_fds_interop.py). Skipped
# (exit 77) when python3 is missing.
set -u
build="$1"
src="$2"
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP: python3 is not installed; the CPython interop test needs it"
  exit 77
fi
for helper in conn_peer conn_fds_peer; do
  if [ ! -x "$build/$helper" ]; then
    echo "$helper was not built in $build"
    exit 1
  fi
done
python3 "$src/tests/python/conn_interop.py" "$build" || exit 1
exec python3 "$src/tests/python/conn_fds_interop.py" "$build"
