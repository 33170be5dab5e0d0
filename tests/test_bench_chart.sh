#!/usr/bin/env bash
# test_bench_chart.sh BUILD_DIR SOURCE_DIR: bench/chart.gp draws a chart a
# reader can take in whole: 1200 px wide, one row per benchmark (the
# height grows with the rows, not the width), from chart data of one row,
# of many rows, and with a column that has no value at all (gnuplot must
# neither fail nor crash). Skips (77) without gnuplot (setup.sh --bench).
set -u
src="$(cd "${2:?usage: test_bench_chart.sh BUILD_DIR SOURCE_DIR}" && pwd)"
command -v gnuplot >/dev/null 2>&1 || { echo "SKIP: gnuplot is not installed"; exit 77; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mproc-chart.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
fail=0

# PNG width and height: the IHDR chunk's two big-endian 32-bit words.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'; }

# draw NAME ROWS...: each ROW "id mproc baseline"; prints "width height".
draw() {
  local name=$1
  shift
  printf '%s\n' "$@" >"$tmp/$name.dat"
  if ! gnuplot -e "datafile='$tmp/$name.dat'; outfile='$tmp/$name.png'; nrows=$#; machine='test machine'; when='today'; pyver='3.x'" \
       "$src/bench/chart.gp" >"$tmp/$name.log" 2>&1 || [ ! -s "$tmp/$name.png" ]; then
    echo "FAIL: $name: gnuplot failed"
    cat "$tmp/$name.log"
    fail=1
    echo "0 0"
    return
  fi
  png_size "$tmp/$name.png"
}
many=()
for i in $(seq 1 30); do many+=("bench.row$i $((i * 3)).5 $i.25"); done
read -r w1 h1 <<<"$(draw one 'pool.apply.roundtrip 45 1.1')"
read -r w30 h30 <<<"$(draw many "${many[@]}")"
read -r wm hm <<<"$(draw no_baseline 'a 2 -' 'b 0.5 -')"
read -r wb hb <<<"$(draw only_baseline 'a - 2' 'b - 0.3')"
for wh in "$w1 one" "$w30 many" "$wm no_baseline" "$wb only_baseline"; do
  set -- $wh
  [ "$1" = 1200 ] || { echo "FAIL: $2: $1 px wide, expected 1200"; fail=1; }
done
[ "$h30" -gt "$h1" ] || { echo "FAIL: 30 rows ($h30 px) are not taller than one ($h1 px)"; fail=1; }
[ $fail -eq 0 ] && echo "PASS: charts 1200 px wide, ${h1} px for 1 row, ${h30} px for 30"
exit $fail
