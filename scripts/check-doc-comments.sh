#!/usr/bin/env bash
# check-doc-comments.sh [HEADER...]: every public function (a declaration
# starting with MP_EXPORT in include/mproc/*.h) must have a comment block
# right above it. A run of declarations with no blank line between them
# shares the comment above the first ("the getters: ..."); a blank line, a
# typedef or a section rule ends the run. Prints each undocumented function
# as FILE:LINE: NAME and exits 1 if there is one. Needs only awk, so it runs
# where Doxygen is not installed (tests/test_docs.sh runs it).
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$src"/include/mproc/*.h "$src"/include/mproc.h
awk '
  FNR == 1 { prev = "other"; incomment = 0; indecl = 0 }
  # Inside a comment block: it ends on the line holding */.
  incomment { if ($0 ~ /\*\//) { incomment = 0; prev = "comment" } ; next }
  # Continuation lines of a declaration, up to its semicolon.
  indecl { if ($0 ~ /;/) { indecl = 0; prev = "decl" } ; next }
  /^[ \t]*\/\*/ {
    if ($0 ~ /\*\/[ \t]*$/) prev = "comment"; else incomment = 1
    next
  }
  # A constant defined between a comment and its function belongs to both.
  /^#define[ \t]/ { next }
  /^MP_EXPORT[ \t]/ {
    if (prev == "comment") doc = 1
    else if (prev == "decl") doc = lastdoc
    else doc = 0
    if (!doc) {
      line = $0
      sub(/\(.*/, "", line); n = split(line, w, /[ \t*]+/)
      printf "%s:%d: %s has no doc comment\n", FILENAME, FNR, w[n]
      bad = 1
    }
    lastdoc = doc
    if ($0 ~ /;/) prev = "decl"; else indecl = 1
    next
  }
  { prev = "other" }
  END { exit bad }
' "$@"
