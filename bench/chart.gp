# chart.gp: draws bench/results/latest.png from the table run.sh builds.
# Called as: gnuplot -e "datafile='...'; outfile='...'; nrows=N" chart.gp
# Each line of datafile: <row id> <mproc speed vs CPython> <raw speed vs
# CPython> ("-" where missing). Speeds are relative to CPython (CPython = 1),
# so taller is faster whatever the row's unit.
width = nrows < 6 ? 800 : 140 * nrows
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size width, 600 noenhanced font ",10"
} else {
  set terminal png size width, 600 noenhanced
}
set output outfile
set datafile missing "-"
set title "mproc vs CPython multiprocessing (CPython = 1; higher is faster)"
set ylabel "speed relative to CPython (log scale)"
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics rotate by -30 scale 0
set yrange [0.1:*]
# A column with no value at all is left out (gnuplot would warn about it).
hasm = system("awk '$2 != \"-\"' " . datafile . " | wc -l") + 0
hasr = system("awk '$3 != \"-\"' " . datafile . " | wc -l") + 0
pm = 'datafile using 2:xtic(1) title "mproc" linecolor rgb "#1f77b4", '
pr = (hasm ? '""' : 'datafile') . ' using 3' . (hasm ? '' : ':xtic(1)') . \
     ' title "raw syscalls (floor)" linecolor rgb "#999999", '
cmd = (hasm ? pm : '') . (hasr ? pr : '') . \
      '1 with lines dashtype 2 linecolor rgb "#d62728" title "CPython"'
plot @cmd
