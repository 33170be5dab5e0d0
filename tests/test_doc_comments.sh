#!/usr/bin/env bash
# test_doc_comments.sh BUILD_DIR SOURCE_DIR: every public function has a doc
# comment (scripts/check-doc-comments.sh over include/). First the checker
# must itself catch an undocumented function in a made-up header, so a
# checker broken into accepting everything cannot pass. Needs only awk.
set -u
src="$(cd "${2:?usage: test_doc_comments.sh BUILD_DIR SOURCE_DIR}" && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mproc-doc.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/probe.h" <<'H'
/* probe.h: a header with one documented and one undocumented function. */
/* Documented. */
#define MP_PROBE_MAX 3
MP_EXPORT int mp_probe_ok(int a,
                          int b);
MP_EXPORT int mp_probe_ok_too(void);

MP_EXPORT int mp_probe_missing(void);
H
out="$(bash "$src/scripts/check-doc-comments.sh" "$tmp/probe.h")"
if [ $? -eq 0 ] || [[ "$out" != *mp_probe_missing* ]] || [[ "$out" == *mp_probe_ok* ]]; then
  echo "FAIL: the checker misjudged a made-up header: $out"
  exit 1
fi
if ! bash "$src/scripts/check-doc-comments.sh"; then
  echo "FAIL: public functions without a doc comment (above)"
  exit 1
fi
echo "PASS: every MP_EXPORT function has a doc comment"
