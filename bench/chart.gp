# chart.gp: draws bench/results/latest.png from the table run.sh builds.
# Called as:
#   gnuplot -e "datafile='...'; outfile='...'; nrows=N; machine='...';
#               when='...'; pyver='...'" chart.gp
# Each line of datafile: <row id> <mproc speed vs CPython> <baseline speed
# vs CPython> ("-" where missing). Speeds are relative to CPython (CPython =
# 1), so further right is faster whatever the row's unit. The baseline is a
# hand-written C program using the obvious system calls for the same job
# (the "raw" column of the table): not a floor, which mproc can beat.
#
# One row per benchmark, bars horizontal and growing from CPython's 1 (to
# the right: faster; to the left: slower), each labelled with its speed-up;
# 1200 px wide and as tall as the rows need, so it reads when shown whole.
# The machine, the date and the CPython version are printed under the title.
if (!exists("machine")) machine = "unknown machine"
if (!exists("when")) when = ""
if (!exists("pyver")) pyver = "?"
rowh = 40
height = 170 + rowh * nrows
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1200, height noenhanced font ",11"
} else {
  set terminal png size 1200, height noenhanced
}
set output outfile
set datafile missing "-"

# Counts and extremes by awk (stats fails on a column of "-" only).
# count(c, cond): rows whose column c has a value meeting cond.
count(c, cond) = system(sprintf("awk '$%d != \"-\" && $%d %s' %s | wc -l", c, c, cond, datafile)) + 0
hasm = count(2, "> 0")      # a column with no value is left out entirely
hasr = count(3, "> 0")
# The x range: every value and 1, with room right of the largest for its
# label.
lo = system("awk 'BEGIN { m = 1 } { for (i = 2; i <= 3; i++) if ($i != \"-\" && $i + 0 > 0 && $i + 0 < m) m = $i + 0 } END { print m }' " . datafile) + 0
hi = system("awk 'BEGIN { m = 1 } { for (i = 2; i <= 3; i++) if ($i != \"-\" && $i + 0 > m) m = $i + 0 } END { print m }' " . datafile) + 0
set logscale x
set xrange [lo / 3.0 : hi * 6.0]
set yrange [nrows - 0.5 : -0.6]
set format x "%gx"
set xtics nomirror
set ytics nomirror scale 0
set grid xtics
set xlabel "speed relative to CPython's multiprocessing (log scale; CPython = 1x, right is faster)"
set title sprintf("mproc vs CPython multiprocessing, one row per benchmark\n%s   |   %s   |   CPython %s", \
                  machine, when, pyver)
set key outside top center horizontal
set style fill solid 0.85 border -1
# The CPython line.
set arrow 1 from 1, graph 0 to 1, graph 1 nohead dashtype 2 linecolor rgb "#d62728" linewidth 2

bh = hasr ? 0.18 : 0.0      # bar offsets: mproc above, the baseline below
bw = hasr ? 0.34 : 0.6      # bar thickness, in rows
lab(v) = v >= 1 ? sprintf("%.3gx", v) : sprintf("%.2gx (slower)", v)
bar(c, dy) = sprintf('datafile using (column(%d)):($0 %+g):(column(%d) < 1 ? column(%d) : 1):(column(%d) < 1 ? 1 : column(%d)):($0 %+g):($0 %+g)', \
                     c, dy, c, c, c, c, dy - bw / 2, dy + bw / 2)
# Each bar's label just past its end: right of a faster bar (left-aligned),
# left of a slower one (right-aligned).
# (A plot whose points are all undefined can crash gnuplot 5.4: each kind
# is drawn only where the column has such a value.)
label(c, dy) = (count(c, ">= 1") ? sprintf('datafile using (column(%d) >= 1 ? column(%d) * 1.08 : NaN):($0 %+g):(lab(column(%d))) with labels left font ",10" notitle, ', c, c, dy, c) : '') . \
               (count(c, "< 1") ? sprintf('datafile using (column(%d) < 1 ? column(%d) / 1.08 : NaN):($0 %+g):(lab(column(%d))) with labels right font ",10" notitle, ', c, c, dy, c) : '')
pm = bar(2, -bh) . ':ytic(1) with boxxyerror linecolor rgb "#1f77b4" title "mproc", ' . label(2, -bh)
pr = bar(3, bh) . (hasm ? '' : ':ytic(1)') . \
     ' with boxxyerror linecolor rgb "#8c8c8c" title "hand-written C baseline", ' . label(3, bh)
cmd = (hasm ? pm : '') . (hasr ? pr : '') . \
      'NaN with lines dashtype 2 linecolor rgb "#d62728" linewidth 2 title "CPython (1x)"'
plot @cmd
