#!/usr/bin/env bash
# test_docs.sh BUILD_DIR SOURCE_DIR: builds the reference manual with
# Doxygen (docs/Doxyfile) into a temporary directory; any Doxygen warning
# fails, and the manual must hold a page per area (each public header) and
# per guide (docs/*.md). Skips (77) when doxygen is not installed
# (`scripts/setup.sh --docs` installs it).
set -u
src="$(cd "${2:?usage: test_docs.sh BUILD_DIR SOURCE_DIR}" && pwd)"
if ! command -v doxygen >/dev/null 2>&1; then
  echo "SKIP: doxygen is not installed (scripts/setup.sh --docs)"
  exit 77
fi
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mproc-docs.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
ver="$(sed -n 's/^#define MP_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
  "$src/include/mproc/version.h" | paste -sd.)"
if ! (cd "$src" && env MP_VERSION="$ver" MP_DOCS_OUT="$tmp" MP_DOCS_WARN="$tmp/warnings.log" \
        doxygen docs/Doxyfile) >"$tmp/run.log" 2>&1; then
  cat "$tmp/run.log"
  echo "FAIL: doxygen failed"
  exit 1
fi
fail=0
if [ -s "$tmp/warnings.log" ]; then
  cat "$tmp/warnings.log"
  echo "FAIL: Doxygen warned ($(grep -c 'warning' "$tmp/warnings.log") warnings)"
  fail=1
fi
for h in "$src"/include/mproc/*.h; do
  g="$(basename "$h" .h | sed 's/_/__/g')"
  [ -f "$tmp/html/group__$g.html" ] || { echo "FAIL: no area page for ${h#$src/}"; fail=1; }
done
for m in "$src"/docs/*.md; do
  p="md_docs_$(basename "$m" .md | tr -- '-' '_')"
  [ -f "$tmp/html/$p.html" ] || { echo "FAIL: no page for ${m#$src/}"; fail=1; }
done
[ $fail -eq 0 ] && echo "PASS: reference manual built without warnings, a page per area and guide"
exit $fail
