#!/usr/bin/env python3
"""doc-links.py [--fix] [SOURCE_DIR]: checks the links of README.md and
docs/*.md; with --fix, first (re)writes docs/python-to-c.md's links.

Check (exit 1 on any problem, one line each as FILE:LINE: problem):
  - a relative link's file exists; a #L<n> anchor is a line of that file
    and that line holds the name the link shows (so a header edit that
    moves a declaration is caught); a #name anchor is a heading of the
    target Markdown file (GitHub's slug) or an <a id="name"> in it;
  - docs/python-to-c.md: every public C name in a code span
    (mp_..., MP_...) is a link to its header line, and names no header
    declares are reported (a name cited that does not exist); every tests/
    or examples/ path is a link to its file; no table row reads longer than
    400 characters (the text shown, without link targets); nothing points
    outside the repository (the project's shared folder, seed files).
--fix rewrites docs/python-to-c.md so that the check passes: it links each
C name in a code span to the line that declares it and each tests/ and
examples/ path to its file (moving #L anchors to where the names now are),
gives each section heading an anchor, rebuilds the contents list, and
continues rows longer than 400 characters on rows marked "↳" (cut at a
"; ", ": ", ". " or ", " outside parentheses). Run it after editing
headers or rows (after a merge: take the other side's rows, then --fix),
and commit the result.
"""
import os
import re
import sys

MAX_ROW = 400
NAME = re.compile(r"^(mp_[a-z0-9_]+|MP_[A-Z0-9_]+)(\(\))?$")
# A code span, possibly already a link: [`x`](target) or `x`; a ``double``
# span (which may hold backticks) is matched whole so it pairs nothing else.
SPAN = re.compile(r"\[`([^`\n]+)`\]\(([^)\s]+)\)|``.+?``|`([^`\n]+)`")
LINK = re.compile(r"(?<!\!)\[([^\]\n]*)\]\(([^)\s]+)\)")
PATH = re.compile(r"^(tests|examples|bench|scripts|fuzz|include|src|docs)/[\w./@+-]+$")


def declarations(src):
    """Public name -> (header path relative to src, 1-based line)."""
    found = {}
    inc = os.path.join(src, "include")
    headers = [os.path.join(inc, "mproc.h")]
    headers += sorted(os.path.join(inc, "mproc", f) for f in os.listdir(os.path.join(inc, "mproc"))
                      if f.endswith(".h"))
    # The tests' own helpers (mp_test_*) are cited where tests are.
    headers += [os.path.join(src, "tests", "mp_test.h")]
    pats = [
        re.compile(r"^(?:MP_EXPORT\b|static inline\b)[^(]*?\b(mp_\w+)\s*\("),
        re.compile(r"^MP_EXPORT\b.*\(\s*\*\s*(mp_\w+)\s*\("),
        re.compile(r"^\s*typedef\s+(?:struct|enum|union)\s+(mp_\w+)\b"),
        re.compile(r"^\s*typedef\b.*\(\s*\*\s*(mp_\w+)\s*\)"),
        re.compile(r"^\s*typedef\b[^(]*\b(mp_\w+)\s*;"),
        re.compile(r"^\s*}\s*(mp_\w+)\s*;"),
        re.compile(r"^\s*#\s*define\s+(MP_\w+)"),
        re.compile(r"^\s+(MP_[A-Z0-9_]+)\s*(?:=[^=]|,|$)"),
    ]
    xx = re.compile(r"^\s*XX\((\w+),")
    for h in headers:
        rel = os.path.relpath(h, src)
        with open(h, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                for p in pats:
                    m = p.search(line)
                    if m and m.group(1) not in found:
                        found[m.group(1)] = (rel, n)
                m = xx.search(line)
                if m and ("MP_" + m.group(1)) not in found:
                    found["MP_" + m.group(1)] = (rel, n)
    return found


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    out = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^#+\s+(.*)$", line)
            if m:
                out.add(slug(m.group(1)))
            out.update(re.findall(r'<a\s+(?:id|name)="([^"]+)"', line))
    return out


def rendered(line):
    line = LINK.sub(lambda m: m.group(1), line)
    return line


# Sections of Python's page, by the heading that cites them.
PY_URL = "https://docs.python.org/3/library/multiprocessing.html#"
PY_ANCHOR = {
    "17.2.1 Introduction": "introduction",
    "17.2.2.1 Process and exceptions": "process-and-exceptions",
    "17.2.2.2 Pipes and Queues": "pipes-and-queues",
    "17.2.2.3 Miscellaneous": "miscellaneous",
    "17.2.2.4 Connection Objects": "connection-objects",
    "17.2.2.5 Synchronization primitives": "synchronization-primitives",
    "17.2.2.6 Shared ctypes Objects": "shared-ctypes-objects",
    "17.2.2.7 Managers": "managers",
    "17.2.2.8 Proxy Objects": "proxy-objects",
    "17.2.2.9 Process Pools": "module-multiprocessing.pool",
    "17.2.2.10 Listeners and Clients": "module-multiprocessing.connection",
    "17.2.2.10.1 Address Formats": "address-formats",
    "17.2.2.11 Authentication keys": "authentication-keys",
    "17.2.2.12 Logging": "logging",
    "17.2.2.13 The multiprocessing.dummy module": "module-multiprocessing.dummy",
    "17.2.3 Programming guidelines": "programming-guidelines",
    "17.2.3.1 All start methods": "all-start-methods",
    "17.2.3.2 The spawn and forkserver start methods": "the-spawn-and-forkserver-start-methods",
    "17.2.4 Examples": "examples",
}
ANCHOR_LINE = re.compile(r'^<a id="[^"]*"></a>$')


def anchor_id(heading):
    """GitHub's slug, with a letter in front when it starts with a digit
    (Doxygen resolves no anchor that starts with one)."""
    a = slug(heading)
    return "sec-" + a if a[:1].isdigit() else a


def cells(row):
    """The cells of a table row, split on | outside code spans."""
    out, cur, tick = [], "", False
    for ch in row.strip()[1:-1]:
        if ch == "`":
            tick = not tick
        if ch == "|" and not tick:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def cut_points(text, sep):
    """Where sep occurs outside code spans, parentheses and brackets."""
    pos, depth, tick = [], 0, False
    for i, ch in enumerate(text):
        if ch == "`":
            tick = not tick
        elif not tick and ch in "([":
            depth += 1
        elif not tick and ch in ")]":
            depth -= 1
        if not tick and depth == 0 and text.startswith(sep, i):
            pos.append(i)
    return pos


def split_text(text, budget):
    """text in pieces of at most budget shown characters where it can be
    cut: at the coarsest separator that is enough, greedily."""
    parts = [text]
    for sep in ("; ", ": ", ". ", ", "):
        out = []
        for p in parts:
            if len(rendered(p)) <= budget or not cut_points(p, sep):
                out.append(p)
                continue
            start, prev = 0, None
            for c in cut_points(p, sep) + [len(p)]:
                end = c + len(sep.rstrip())
                if len(rendered(p[start:end])) > budget and prev is not None:
                    out.append(p[start:prev])
                    start = prev + 1
                prev = end
            out.append(p[start:])
        parts = [q.strip() for q in out if q.strip()]
    return parts


def split_row(row):
    """A long row as the first row and its "↳" continuations, the longest
    cell (the C counterpart, usually) spread over them."""
    c = cells(row)
    k = max(range(len(c)), key=lambda i: len(rendered(c[i])))
    budget = max(120, MAX_ROW - (len(rendered(row)) - len(rendered(c[k]))) - 10)
    parts = split_text(c[k], budget)
    rows = []
    for n, part in enumerate(parts):
        cur = list(c) if n == 0 else ["↳"] + [""] * (len(c) - 1)
        cur[k] = "↳ " + part if n and k == 0 else part
        rows.append("| " + " | ".join(cur) + " |")
    return rows


def structure(lines):
    """Anchors above headings, the contents list, long rows split."""
    out, toc, fence = [], [], False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^(##+) (.*)$", line)
        if m and m.group(2) != "Contents":
            if out and ANCHOR_LINE.match(out[-1]):
                out.pop()
            a = anchor_id(m.group(2))
            out.append('<a id="%s"></a>' % a)
            entry = "  " * (len(m.group(1)) - 2) + "- [%s](#%s)" % (m.group(2), a)
            if m.group(2) in PY_ANCHOR:
                entry += " ([Python](%s%s))" % (PY_URL, PY_ANCHOR[m.group(2)])
            toc.append(entry)
        if not fence and line.startswith("|") and len(rendered(line)) > MAX_ROW:
            out.extend(split_row(line))
        else:
            out.append(line)
    # The contents: the list right under "## Contents", replaced whole.
    if "## Contents" in out:
        i = out.index("## Contents") + 1
        j = i
        while j < len(out) and (not out[j].strip() or out[j].lstrip().startswith("- [")):
            j += 1
        out[i:j] = [""] + toc + [""]
    return out


def fix(src, decl):
    path = os.path.join(src, "docs", "python-to-c.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()

    def repl(m):
        if m.group(1) is not None:
            name, target = m.group(1), m.group(2)
            if target.startswith("http"):
                return m.group(0)
        elif m.group(3) is None:
            return m.group(0)  # a ``double`` span
        else:
            name, target = m.group(3), None
        bare = NAME.match(name)
        if bare and bare.group(1) in decl:
            h, n = decl[bare.group(1)]
            return "[`%s`](../%s#L%d)" % (name, h, n)
        if PATH.match(name) and os.path.exists(os.path.join(src, name.split("#")[0])):
            if name.startswith("docs/") and name.endswith(".md"):
                # A page beside this one; Doxygen turns such links into
                # page references, which must not hold a code span.
                return "[%s](%s)" % (name, name[len("docs/"):])
            return "[`%s`](../%s)" % (name, name)
        return m.group(0)

    out = []
    fence = False
    for line in text.split("\n"):
        if line.startswith("```"):
            fence = not fence
        if not fence and not line.startswith("#"):
            line = SPAN.sub(repl, line)
        out.append(line)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(structure(out)))


def check(src, decl):
    problems = []
    files = [os.path.join(src, "README.md")]
    files += sorted(os.path.join(src, "docs", f) for f in os.listdir(os.path.join(src, "docs"))
                    if f.endswith(".md"))
    for path in files:
        rel = os.path.relpath(path, src)
        base = os.path.dirname(path)
        mine = os.path.basename(path) == "python-to-c.md"
        fence = False
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for n, line in enumerate(lines, 1):
            where = "%s:%d" % (rel, n)
            if line.startswith("```"):
                fence = not fence
            if fence:
                continue
            for m in LINK.finditer(line):
                shown, target = m.group(1), m.group(2)
                if re.match(r"^[a-z]+:", target):
                    continue
                file_part, _, frag = target.partition("#")
                dest = os.path.normpath(os.path.join(base, file_part)) if file_part else path
                if not os.path.exists(dest):
                    problems.append("%s: dead link %s" % (where, target))
                    continue
                if not frag:
                    continue
                lm = re.match(r"^L(\d+)$", frag)
                if lm:
                    with open(dest, encoding="utf-8", errors="replace") as f:
                        dl = f.read().split("\n")
                    k = int(lm.group(1))
                    name = shown.strip("`").rstrip("()")
                    if k > len(dl):
                        problems.append("%s: %s: the file has %d lines" % (where, target, len(dl)))
                    elif NAME.match(shown.strip("`")) and not re.search(
                            # errors.h's X-macro rows name MP_EFOO as EFOO
                            r"\b(MP_)?%s\b" % re.escape(re.sub("^MP_", "", name)), dl[k - 1]):
                        problems.append("%s: %s: line %d does not hold %s (run scripts/doc-links.py --fix)"
                                        % (where, target, k, name))
                elif dest.endswith(".md") and frag not in anchors(dest):
                    problems.append("%s: no anchor #%s in %s" % (where, frag, os.path.relpath(dest, src)))
            if re.search(r"DESIGN\.md|shared folder|shared/|seeds?/|002_[0-9a-f]+\.txt", line):
                problems.append("%s: points outside the repository" % where)
            if not mine:
                continue
            if line.startswith("|") and len(rendered(line)) > MAX_ROW:
                problems.append("%s: table row of %d characters (at most %d): split it"
                                % (where, len(rendered(line)), MAX_ROW))
            if line.startswith("#"):
                continue
            for m in SPAN.finditer(line):
                if m.group(1) is not None or m.group(3) is None:
                    continue
                name = m.group(3)
                bare = NAME.match(name)
                if bare:
                    if bare.group(1) in decl:
                        problems.append("%s: %s is not linked to its header line" % (where, name))
                    elif not bare.group(1).startswith(("MP__", "mp__")) and not re.search(r"_X(_|$)", name):
                        problems.append("%s: %s is declared in no public header" % (where, name))
                elif PATH.match(name) and name.startswith(("tests/", "examples/")):
                    problems.append("%s: %s is not linked to its file" % (where, name))
    return problems


def main():
    args = sys.argv[1:]
    do_fix = "--fix" in args
    args = [a for a in args if a != "--fix"]
    src = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    decl = declarations(src)
    if do_fix:
        fix(src, decl)
    problems = check(src, decl)
    for p in problems:
        print(p)
    if problems:
        print("%d problems in the docs' links" % len(problems))
        return 1
    print("docs: every link and anchor resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
