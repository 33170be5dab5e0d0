#!/usr/bin/env bash
# run.sh BUILD_DIR: `make bench`. Runs every benchmark program the build made
# (BUILD_DIR/bench/*) and every CPython twin (bench/python/bench_*.py), one at
# a time, collects their ROW lines (protocol: bench/README.md), merges them by
# row id, prints the table (mproc, CPython, raw, ratios), writes
# bench/results/latest.json (and latest.tsv, the same table tab-separated
# with each column's min/max, for the chart) and draws
# bench/results/latest.png with gnuplot.
#
# Environment: MP_BENCH_BUDGET   seconds per measurement (default 1.0)
#              MP_BENCH_TIMEOUT  seconds per program before it is killed (120)
#              MP_BENCH_FILTER   run only programs whose name contains this
#              PYTHON            the CPython to compare with (default python3)
# Exits 1 if a program failed or timed out (the table is still written).
set -u
build="${1:-build-bench}"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
results="$src/bench/results"
export MP_BENCH_BUDGET="${MP_BENCH_BUDGET:-1.0}"
timeout_s="${MP_BENCH_TIMEOUT:-120}"
filter="${MP_BENCH_FILTER:-}"
python="${PYTHON:-python3}"

mkdir -p "$results"
work="$(mktemp -d "${TMPDIR:-/tmp}/mproc-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
out="$work/rows"   # every protocol line of every program, in run order
: >"$out"
failed=()
t_start=$(date +%s)
load_start="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"

# run_one NAME CMD...: runs one program under the timeout; keeps its
# protocol lines, lets its stderr through, and notes failures.
run_one() {
  local name="$1"; shift
  local t0=$(date +%s%N) rc
  printf 'bench: %-34s ' "$name" >&2
  timeout --kill-after=5 "$timeout_s" "$@" >"$work/one" 2>"$work/err"
  rc=$?
  printf '%6.1f s' "$(( ($(date +%s%N) - t0) / 1000000 ))e-3" >&2
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    printf '  TIMEOUT after %s s\n' "$timeout_s" >&2; failed+=("$name (timeout)")
  elif [ $rc -ne 0 ]; then
    printf '  FAILED (exit %d)\n' "$rc" >&2; failed+=("$name (exit $rc)")
  else
    printf '\n' >&2
  fi
  sed 's/^/    /' "$work/err" >&2
  # A failed program's numbers are kept: the rows it finished are sound.
  grep -E '^(ROW|DESC|SKIP) ' "$work/one" | sed "s|\$| @$name|" >>"$out"
}

for prog in "$build"/bench/*; do
  [ -f "$prog" ] && [ -x "$prog" ] || continue
  name="$(basename "$prog")"
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
  run_one "$name" "$prog"
done

if command -v "$python" >/dev/null 2>&1; then
  for py in "$src"/bench/python/bench_*.py; do
    [ -f "$py" ] || continue
    name="$(basename "$py")"
    [ "$name" = bench_util.py ] && continue
    [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
    run_one "python/$name" env PYTHONDONTWRITEBYTECODE=1 \
      PYTHONPATH="$src/bench/python" "$python" "$py"
  done
  pyver="$("$python" -c 'import platform; print(platform.python_version())')"
else
  echo "bench: $python not found: the CPython column stays empty" >&2
  pyver="absent"
fi

# ---- merge by id: table, JSON, chart data -----------------------------------
# Units ending in /s are throughputs (bigger is better), the rest times.
# vs_cpython: how many times faster mproc is than CPython (>1 = faster).
# vs_raw: mproc's cost in units of the raw floor's cost (1.0 = no overhead).
# Peers (columns peer:<name>): each peer is a row of its own under the row
# (id[name]); the row's "peer" column is the best peer, so "vs peer" says
# by how much mproc leads (or trails) the strongest one measured.
# The machine: CPUs, model, load before/after (the table is only as quiet
# as the machine was), kernel, date.
cpus="$(nproc 2>/dev/null || echo '?')"
model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1 | tr -d '"\\')"
load_end="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
awk -v json="$work/latest.json" -v chart="$work/chart.dat" -v tsv="$work/latest.tsv" \
    -v pyver="$pyver" -v cpus="$cpus" -v model="${model:-unknown}" \
    -v load0="$load_start" -v load1="$load_end" -v kernel="$(uname -r)" \
    -v date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" '
function isnum(s) { return s ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
function jnum(v) { return v == "" ? "null" : sprintf("%.6g", v) }
function fmt(v) { return v == "" ? "-" : sprintf("%.4g", v) }
function ratio(a, b, thr) {   # how many times better a is than b
  if (a == "" || b == "" || a + 0 <= 0 || b + 0 <= 0) return ""
  return thr ? a / b : b / a
}
function vs(r) { return r == "" ? "-" : (r >= 1 ? sprintf("%.3gx faster", r) : sprintf("%.3gx slower", 1 / r)) }
function jstats(id, c) {      # {"min":..,"median":..,"max":..,"n":..} or null
  if (!((id, c) in v)) return "null"
  if (!((id, c) in sn)) return sprintf("{\"median\": %s}", jnum(v[id, c]))
  return sprintf("{\"min\": %s, \"median\": %s, \"max\": %s, \"n\": %d}", \
    jnum(smin[id, c]), jnum(v[id, c]), jnum(smax[id, c]), sn[id, c])
}
function spread(id, c) {      # "min..max (n)" for the table
  return ((id, c) in sn) ? sprintf("%s %s..%s (%d)", c, fmt(smin[id, c]), fmt(smax[id, c]), sn[id, c]) : ""
}
{
  src = $NF; kind = $1; id = $2
  if (id !~ /^[A-Za-z0-9_.:+-]+$/) { print "bench: bad row id from " src ": " id > "/dev/stderr"; next }
  if (!(id in seen)) { seen[id] = 1; order[++n] = id }
  if (kind == "DESC") {
    line = $0; sub(/^DESC [^ ]+ /, "", line); sub(/ @[^ ]+$/, "", line)
    if (!(id in desc)) desc[id] = line
    next
  }
  if (kind == "SKIP") {
    line = $0; sub(/^SKIP [^ ]+ /, "", line); sub(/ @[^ ]+$/, "", line)
    skips = skips sprintf("  %s: %s (%s)\n", id, line, substr(src, 2))
    next
  }
  unit = $3; col = $4; val = $5
  if (col != "mproc" && col != "raw" && col != "cpython" && col !~ /^peer:[A-Za-z0-9_.+-]+$/) {
    print "bench: unknown column " col " for " id " from " src > "/dev/stderr"; next }
  if (!isnum(val)) { print "bench: not a number for " id " " col ": " val > "/dev/stderr"; next }
  if (id in units && units[id] != unit) {
    print "bench: " id ": unit " unit " from " src " differs from " units[id] "; dropped" > "/dev/stderr"; next }
  units[id] = unit
  if ((id, col) in v) { print "bench: " id " " col " given twice; keeping the first" > "/dev/stderr"; next }
  v[id, col] = val
  if (NF >= 9 && isnum($6) && isnum($7) && $8 ~ /^[0-9]+$/) {
    smin[id, col] = $6; smax[id, col] = $7; sn[id, col] = $8 }
  if (col ~ /^peer:/) { np[id]++; pname[id, np[id]] = substr(col, 6) }
}
END {
  fmtrow = "%-40s %-6s %10s %10s %10s %10s %13s %9s %13s\n"
  printf "\nmachine: %s CPUs (%s), load %s before, %s after; Linux %s; %s\n", \
    cpus, model, load0, load1, kernel, date
  split(load0, l0, " "); split(load1, l1, " ")
  if (cpus + 0 > 0 && (l0[1] + 0 > cpus + 0 || l1[1] + 0 > cpus + 0))
    printf "WARNING: more runnable processes than CPUs (load > %s): not a quiet machine; timings are noisy and spinning rows suffer most\n", cpus
  printf "\n" fmtrow, "operation", "unit", "mproc", "CPython", "raw", "peer", "vs CPython", "mproc/raw", "vs peer"
  printf fmtrow, "---------", "----", "-----", "-------", "---", "----", "----------", "---------", "-------"
  printf "{\"date\": \"%s\", \"machine\": {\"cpus\": \"%s\", \"model\": \"%s\", \"load_before\": \"%s\", \"load_after\": \"%s\", \"kernel\": \"%s\"},\n \"python\": \"%s\", \"budget_s\": %s,\n \"rows\": [", \
    date, cpus, model, load0, load1, kernel, pyver, jnum(ENVIRON["MP_BENCH_BUDGET"]) > json
  printf "# id\tunit\tbetter\tmproc\tmproc_min\tmproc_max\tcpython\tcpython_min\tcpython_max\traw\traw_min\traw_max\tpeer\tpeer_name\tpeer_min\tpeer_max\n" > tsv
  printf "# %s CPUs (%s); load %s / %s; %s; CPython %s\n", cpus, model, load0, load1, date, pyver > tsv
  nc = 0
  for (i = 1; i <= n; i++) {
    id = order[i]
    if (!(id in units)) continue
    thr = units[id] ~ /\/s$/
    m = ((id, "mproc") in v) ? v[id, "mproc"] : ""
    c = ((id, "cpython") in v) ? v[id, "cpython"] : ""
    r = ((id, "raw") in v) ? v[id, "raw"] : ""
    # The best peer stands in the row; every peer gets a line of its own.
    best = ""; bname = ""
    for (j = 1; j <= np[id]; j++) {
      pv = v[id, "peer:" pname[id, j]]
      if (best == "" || ratio(pv, best, thr) > 1) { best = pv; bname = pname[id, j] }
    }
    vc = ratio(m, c, thr)          # >1: mproc faster than CPython
    vr = ratio(r, m, thr)          # mproc cost / raw cost
    vp = ratio(m, best, thr)       # >1: mproc faster than the best peer
    printf fmtrow, id, units[id], fmt(m), fmt(c), fmt(r), fmt(best), vs(vc), vr == "" ? "-" : sprintf("%.3g", vr), vs(vp)
    if (id in desc) printf "  %s (%s is better)\n", desc[id], thr ? "bigger" : "smaller"
    sp = spread(id, "mproc") "  " spread(id, "cpython") "  " spread(id, "raw")
    gsub(/^ +| +$/, "", sp); gsub(/   +/, "  ", sp)
    if (sp != "") printf "  samples min..max (n): %s\n", sp
    peers = ""
    for (j = 1; j <= np[id]; j++) {
      pc = "peer:" pname[id, j]; pv = v[id, pc]
      printf fmtrow, "  [" pname[id, j] "]", units[id], "", "", "", fmt(pv), "", "", vs(ratio(m, pv, thr))
      peers = peers sprintf("%s{\"name\": \"%s\", \"value\": %s, \"speedup_vs_peer\": %s, \"stats\": %s}", \
        (j > 1 ? ", " : ""), pname[id, j], jnum(pv), jnum(ratio(m, pv, thr)), jstats(id, pc))
    }
    printf "%s\n    {\"id\": \"%s\", \"unit\": \"%s\", \"mproc\": %s, \"cpython\": %s, \"raw\": %s, \"peer\": %s, \"peer_name\": %s, \"better\": \"%s\", \"speedup_vs_cpython\": %s, \"mproc_over_raw\": %s, \"speedup_vs_peer\": %s,\n     \"stats\": {\"mproc\": %s, \"cpython\": %s, \"raw\": %s}, \"peers\": [%s]}", \
      (nc++ ? "," : ""), id, units[id], jnum(m), jnum(c), jnum(r), jnum(best), bname == "" ? "null" : "\"" bname "\"", \
      thr ? "higher" : "lower", jnum(vc), jnum(vr), jnum(vp), \
      jstats(id, "mproc"), jstats(id, "cpython"), jstats(id, "raw"), peers > json
    bp = "peer:" bname
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, units[id], thr ? "higher" : "lower", \
      fmt(m), fmt(smin[id, "mproc"]), fmt(smax[id, "mproc"]), fmt(c), fmt(smin[id, "cpython"]), fmt(smax[id, "cpython"]), \
      fmt(r), fmt(smin[id, "raw"]), fmt(smax[id, "raw"]), fmt(best), bname == "" ? "-" : bname, \
      fmt(smin[id, bp]), fmt(smax[id, bp]) > tsv
    # Chart: speed relative to CPython (CPython = 1), for rows that have it.
    if (c != "" && (m != "" || r != "")) {
      rc = ratio(r, c, thr)
      printf "%s %s %s\n", id, vc == "" ? "-" : vc, rc == "" ? "-" : rc > chart
      charted++
    }
  }
  printf "\n]}\n" > json
  if (skips != "") printf "\nnot measured:\n%s", skips
  printf "\nunits ending in /s: bigger is better; times: smaller is better.\n"
  printf "vs CPython / vs peer: how many times faster mproc is (peer: the best one; [name] lines: each);\n"
  printf "mproc/raw: mproc cost over the bare-syscall floor (1 = none).\n"
  printf "CPython %s; budget %s s per measurement; median of samples (min..max under the row).\n", pyver, ENVIRON["MP_BENCH_BUDGET"]
  if (!charted) printf "" > chart
}' "$out"

cp "$work/latest.tsv" "$results/latest.tsv"
cp "$work/latest.json" "$results/latest.json"
echo "bench: wrote $results/latest.json"

if ! command -v gnuplot >/dev/null 2>&1; then
  echo "bench: gnuplot not found: no chart (install gnuplot-nox)"
elif [ ! -s "$work/chart.dat" ]; then
  echo "bench: no row has both mproc and CPython yet: no chart"
else
  rows=$(wc -l <"$work/chart.dat")
  # Printed on the chart: where, when and against which CPython it ran
  # (quotes dropped: they would end gnuplot's strings).
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
  machine="$(printf '%s, %s CPUs, Linux %s' "${cpu:-$(uname -m)}" "$(nproc)" "$(uname -r)" | tr -d "'\"")"
  when="$(date -u '+%Y-%m-%d %H:%M UTC')"
  gnuplot -e "datafile='$work/chart.dat'; outfile='$results/latest.png'; nrows=$rows; machine='$machine'; when='$when'; pyver='$(printf %s "$pyver" | tr -d "'\"")'" \
    "$src/bench/chart.gp" && echo "bench: drew $results/latest.png"
fi

total=$(( $(date +%s) - t_start ))
echo "bench: total ${total} s"
[ "$total" -gt 600 ] && echo "bench: WARNING: over the 10-minute budget; lower per-program work" >&2
if [ ${#failed[@]} -gt 0 ]; then
  printf 'bench: failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
exit 0
