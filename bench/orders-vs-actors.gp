# bench/orders-vs-actors.gp — docs/orders-vs-actors.png from the data file
# bench/run.sh writes (orders-vs-actors.dat):
#
#   gnuplot -e "datafile='orders-vs-actors.dat'; outfile='orders-vs-actors.png'" \
#           bench/orders-vs-actors.gp
#
# Columns: order actors, coffee's orders/s on SQLite, on MariaDB, then the
# bare loop's orders/s on SQLite (one writer) and on MariaDB (8 threads),
# repeated on every row so they draw as horizontal references. "-" marks a
# figure that was not measured. Lines starting with # are comments (the run's
# date, machine and command).
if (!exists("datafile")) datafile = 'orders-vs-actors.dat'
if (!exists("outfile")) outfile = 'orders-vs-actors.png'
if (!exists("subtitle")) subtitle = ''

set terminal pngcairo size 900,560 font "sans,10"
set output outfile
set datafile missing "-"
set title "POST /order: orders/s against order actors" . (subtitle eq '' ? '' : "\n" . subtitle)
set xlabel "order actors (--order-actors)"
set ylabel "orders/s (200 answers)"
set logscale x 2
set xtics ("1" 1, "2" 2, "4" 4, "8" 8)
set xrange [0.8:10]
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set grid ytics
set key at screen 0.5, screen 0.02 center bottom horizontal maxrows 2 width 2
set bmargin 7
set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 1.2
set style line 2 lc rgb "#d62728" lw 2 pt 5 ps 1.2
set style line 3 lc rgb "#1f77b4" lw 1.5 dt 2
set style line 4 lc rgb "#d62728" lw 1.5 dt 2

plot datafile using 1:2 with linespoints ls 1 title "coffee, SQLite", \
     datafile using 1:3 with linespoints ls 2 title "coffee, MariaDB", \
     datafile using (0.8):4:(10-0.8):(0) with vectors nohead ls 3 title "bare loop, SQLite (1 writer)", \
     datafile using (0.8):5:(10-0.8):(0) with vectors nohead ls 4 title "bare loop, MariaDB (8 threads)"
