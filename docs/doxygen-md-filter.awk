# doxygen-md-filter.awk: Doxygen's INPUT_FILTER for the Markdown guides
# (docs/Doxyfile). Doxygen 1.9.4 reads `text' (a backtick closed by an
# apostrophe) as typographic quotes, so a code span holding an apostrophe,
# such as `args=('bob',)`, loses its closing backtick and every code span
# after it on the page is paired wrongly. Such spans (and ``double``
# spans, which it does not know) become <tt> with the characters Doxygen
# would read as commands or HTML escaped; everything else passes as it is.
# GitHub reads the files themselves, unfiltered.
function esc(s,    out, i, c) {
  out = ""
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "<") c = "&lt;"
    else if (c == ">") c = "&gt;"
    else if (c == "&") c = "&amp;"
    else if (index("\\@#%$", c)) c = "\\" c
    out = out c
  }
  return out
}
/^```/ { fence = !fence; print; next }
fence { print; next }
{
  line = $0; out = ""
  while ((p = index(line, "`")) > 0) {
    ticks = (substr(line, p, 2) == "``") ? "``" : "`"
    rest = substr(line, p + length(ticks))
    q = index(rest, ticks)
    if (q == 0) break
    body = substr(rest, 1, q - 1)
    out = out substr(line, 1, p - 1)
    if (ticks == "``" || index(body, "'")) {
      sub(/^ /, "", body); sub(/ $/, "", body)
      out = out "<tt>" esc(body) "</tt>"
    } else {
      out = out "`" body "`"
    }
    line = substr(rest, q + length(ticks))
  }
  print out line
}
