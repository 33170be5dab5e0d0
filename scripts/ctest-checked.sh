#!/usr/bin/env bash
# ctest-checked.sh BUILD_DIR: runs the build's tests with ctest, then checks
# that the suite left nothing behind: no process still running from the
# build tree, nothing in the private TMPDIR the tests ran with (socket
# folders, temporary files), and, under CI (where nothing else runs), no new
# entry in /dev/shm. Anything left is listed, cleaned up, and fails the run.
set -u
build=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mproc-ctest.XXXXXX")
snap() {
  { [ "${CI:-}" = true ] && ls -1 /dev/shm 2>/dev/null | sed 's|^|shm:|'
    find "$tmp" -mindepth 1 -maxdepth 1 2>/dev/null; } | sort
}
before=$(snap)
(cd "$build" && TMPDIR="$tmp" ctest --output-on-failure -j 2)
rc=$?
sleep 1 # daemonic children killed at their parent's exit may still be dying
left=""
for p in /proc/[0-9]*; do
  exe=$(readlink "$p/exe" 2>/dev/null) || continue
  case "$exe" in
  "$build"/*)
    left="$left ${p#/proc/}"
    echo "leak check: process ${p#/proc/} still running: $exe" >&2
    ;;
  esac
done
[ -n "$left" ] && kill -9 $left 2>/dev/null
new=$(comm -13 <(echo "$before") <(snap))
if [ -n "$new" ]; then
  echo "leak check: the tests left behind:" >&2
  echo "$new" | sed 's/^/  /' >&2
  echo "$new" | while read -r e; do
    case "$e" in
    shm:*) rm -f "/dev/shm/${e#shm:}" ;;
    *) rm -rf "$e" ;;
    esac
  done
fi
rm -rf "$tmp"
if [ -z "$left" ] && [ -z "$new" ]; then
  echo "leak check: no processes, temporary files or /dev/shm entries left behind"
elif [ $rc -eq 0 ]; then
  rc=1
fi
exit $rc
