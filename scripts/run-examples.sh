#!/usr/bin/env bash
# run-examples.sh BUILD_DIR: runs every example program and prints its
# output under a header: `make demo`, the project's main job.
set -u
dir="${1:-build}/examples"
fail=0
for ex in "$dir"/*; do
  [ -x "$ex" ] && [ -f "$ex" ] || continue
  name=$(basename "$ex")
  printf '\n=== examples/%s.c ===\n' "$name"
  timeout 60 "$ex"
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "!!! $name failed (exit $rc)"
    fail=1
  fi
done
exit $fail
