# bench/ratios.gp — the chart of `make bench`: tether ns/op ÷ Go ns/op per benchmark, on a
# log scale, with each benchmark's target. Called by compare.py:
#   gnuplot -e "data='ratios.dat'; out='latest.png'; subtitle='...'; ymin=0.01; ymax=2" \
#     bench/ratios.gp
# data: index <TAB> name <TAB> ratio <TAB> target or ? <TAB> colour (11 met, 12 missed, 13 none)
set terminal pngcairo size 1400,820 font "sans,10"
set output out
set datafile separator "\t"
set datafile missing "?"
set title "tether ÷ Go, ns/op, measured in the same run (lower is better; 1 = as fast as Go)\n".subtitle
set ylabel "tether ns/op ÷ Go ns/op (log scale)"
set logscale y
set yrange [ymin:ymax]
set format y "%g"
set grid ytics mytics
set xtics rotate by -55 nomirror font ",9"
set xrange [-0.8:*]
set bmargin 15
set rmargin 12
set key outside top center horizontal
set style fill solid 0.85 border -1
set boxwidth 0.7
set linetype 11 lc rgb "#2e7d32"
set linetype 12 lc rgb "#c62828"
set linetype 13 lc rgb "#78909c"
plot data using 1:3:5:xtic(2) with boxes lc variable notitle, \
     NaN with boxes lt 11 title "target met", \
     NaN with boxes lt 12 title "target MISSED", \
     NaN with boxes lt 13 title "no target", \
     data using 1:4 with points pt 9 ps 1.6 lc rgb "black" title "target (at most)", \
     1 with lines dt 2 lw 1.5 lc rgb "#424242" title "Go"
