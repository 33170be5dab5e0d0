# doxygen-filter.awk: Doxygen's INPUT_FILTER for the public headers (see
# docs/Doxyfile). The headers are written for people reading them in an
# editor, with plain /* */ comments; this turns them into Doxygen's without
# changing the files:
#   - the file's opening comment becomes the area's page: a \defgroup
#     named after the header (sync.h -> group "sync"), then \file and
#     \addtogroup ... @{ so
#     every declaration of the file joins the group (@} is added at the end);
#   - a comment above a declaration becomes its documentation (/**), a
#     comment after a field on the same line becomes the field's (/**<);
#     the declarations that follow the first with no blank line between
#     (a run sharing the comment) get \copydoc of the first;
#   - a one-line section rule ("/* ---- Event ---- */") stays a plain
#     comment; a rule followed by text keeps the text, without the dashes;
#   - inside comments, characters Doxygen would read as commands or HTML
#     (\ @ < > & # % $) are escaped, except inside `code spans`; name
#     patterns ending in _* and *pointers become code spans.
# Usage (Doxygen runs it): awk -f doxygen-filter.awk HEADER
function esc(s,    out, i, c, code) {
  # A name pattern (mp_X_*, MP_START_*) or a pointer (*initargs) would
  # open Markdown emphasis: show it as code.
  if (index(s, "`") == 0) {
    out = ""
    while (match(s, /[A-Za-z0-9_]+_\*|\*[A-Za-z_][A-Za-z0-9_]*/)) {
      out = out substr(s, 1, RSTART - 1) "`" substr(s, RSTART, RLENGTH) "`"
      s = substr(s, RSTART + RLENGTH)
    }
    s = out s
  }
  out = ""; code = 0
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "`") code = !code
    else if (!code && index("\\@<>&#%$", c)) out = out "\\"
    out = out c
  }
  return out
}
# Escapes the text of a comment line, leaving its delimiters alone.
function body(s,    end_at, pre, post) {
  end_at = index(s, "*/")
  if (end_at) { pre = substr(s, 1, end_at - 1); post = substr(s, end_at) }
  else { pre = s; post = "" }
  return esc(pre) post
}
# After the opening comment: the file's entry, and the group's start.
function open_group() {
  opening = 0
  print "/** \\file " name " */"
  print "/** \\addtogroup " group
  print " * @{ */"
}
# One line of the header, as Doxygen is to read it.
function process(line,    lead, rest, closes, p) {
  if (incomment) {
    print body(line)
    if (index(line, "*/")) { incomment = 0; if (opening) open_group() }
    return
  }
  # A comment opening at the start of a line.
  if (match(line, /^[ \t]*\/\*/)) {
    lead = substr(line, 1, RLENGTH - 2)
    rest = substr(line, RLENGTH + 1)
    closes = index(rest, "*/") > 0
    if (first) {
      first = 0
      name = FILENAME; sub(/.*\//, "", name); group = name; sub(/\.h$/, "", group)
      if (group == "mproc") group = "mproc_h"
      sub(/^ *mproc\/[a-z_]*\.h: */, "", rest); sub(/^ *mproc\.h: */, "", rest)
      title = rest; sub(/\*\/.*/, "", title); sub(/[.,;:] .*/, "", title)
      print "/** \\defgroup " group " " name ": " esc(title)
      print " * " body(rest)
      opening = 1
      if (!closes) incomment = 1
      else open_group()
      return
    }
    if (rest ~ /^ *----/) {
      if (closes) { print line; return }        # a bare section rule
      sub(/^ *-+ */, "", rest); sub(/ *-+ *$/, "", rest)
      print lead "/** " esc(rest) "."
      incomment = 1
      return
    }
    print lead "/**" body(rest)
    if (!closes) incomment = 1
    return
  }
  # A comment after code on the same line documents that member.
  if ((p = index(line, "/*")) > 0 && index(line, "//") == 0) {
    rest = substr(line, p + 2)
    print substr(line, 1, p - 1) "/**<" body(rest)
    if (!index(rest, "*/")) incomment = 1
    return
  }
  print line
}

# A run of declarations under one comment (no blank line between them)
# shares that comment (the rule of scripts/check-doc-comments.sh): each
# declaration after the first gets "\copydoc first" (cp[line] = first).
function decl_name(s,    w, k) {
  sub(/\(.*/, "", s)
  k = split(s, w, /[ \t*]+/)
  return w[k]
}
function find_runs(    i, s, prev, inc, ind, first_decl) {
  prev = "other"; inc = 0; ind = 0
  for (i = 1; i <= n; i++) {
    s = L[i]
    if (inc) { if (s ~ /\*\//) { inc = 0; prev = "comment" }; continue }
    if (ind) { if (s ~ /;/) { ind = 0; prev = "decl" }; continue }
    if (s ~ /^#define[ \t]/) continue
    if (s ~ /^MP_EXPORT[ \t]/) {
      if (prev == "comment") first_decl = decl_name(s)
      else if (prev == "decl" && first_decl != "") cp[i] = first_decl
      else first_decl = ""
      if (s ~ /;/) prev = "decl"; else ind = 1
      continue
    }
    if (s ~ /^[ \t]*\/\*/) {
      if (s ~ /\*\/[ \t]*$/) prev = "comment"; else inc = 1
      continue
    }
    prev = "other"
  }
}
BEGIN { first = 1; incomment = 0; opening = 0 }
{ L[++n] = $0 }
END {
  name = FILENAME
  find_runs()
  for (i = 1; i <= n; i++) {
    if (cp[i]) print "/** \\copydoc " cp[i] " */"
    process(L[i])
  }
  if (!first) print "/** @} */"
}
