# fig3.gp: fig_heatmap figure drawn by analysis/ (figure.h) from fig3.dat beside it.
# Redraw in this directory with: gnuplot fig3.gp  (rewrites the .png and the .svg)
reset session
set encoding utf8
do for [term = 1:2] {
  reset
  if (term == 1) {
    set terminal pngcairo size 820,542 font 'DejaVu Sans,10' noenhanced
    set output 'fig3.png'
  } else {
    set terminal svg size 820,542 font 'DejaVu Sans,10' fontscale 1.333 noenhanced background '#ffffff'
    set output 'fig3.svg'
  }
  set border 3 lc rgb '#404040'
  set tics out nomirror textcolor rgb '#202020'
  set grid lt 1 lw 1 lc rgb '#e4e4e4'
  set key noautotitle Left reverse samplen 2.5 spacing 1.2 textcolor rgb '#202020'
  set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05
  set multiplot title 'Figure 3: acc_exact (%), mean ± sd over seeds; NTP baseline 72.16 ± 0.75 (n = 5)' font ',13'
  unset grid; unset key; set border 15 lc rgb '#404040'
  set offsets 0, 0, 0, 0
  set xrange [-0.5:3.5]; set yrange [4.5:-0.5]
  set xtics ('0.5' 0, '1' 1, '2' 2, '4' 3) scale 0
  set ytics ('0' 0, '1' 1, '2' 2, '3' 3, '4' 4) scale 0
  set xlabel 'lambda'
  set ylabel 'k'
  set cblabel 'acc_exact (%)'
  set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', 1 '#fde725')
  set cbrange [68.83:71.94]
  set cbtics out nomirror
  set colorbox user origin 0.8463, 0.1328 size 0.0220, 0.7749
  set lmargin at screen 0.0854; set rmargin at screen 0.8171
  set tmargin at screen 0.9077; set bmargin at screen 0.1328
  plot 'fig3.dat' using 1:2:(0.5):(valid(3) ? NaN : 0.5) with boxxyerror fs solid 1.0 border lc rgb '#ffffff' lc rgb '#e6e6e6', \
       'fig3.dat' using 1:2:(0.5):(valid(3) ? 0.5 : NaN):3 with boxxyerror fs solid 1.0 border lc rgb '#ffffff' lc palette, \
       'fig3.dat' using 1:2:(valid(3) ? sprintf('%.1f', $3) . (valid(4) ? sprintf("\n± %.1f", $4) : '') . (valid(5) ? sprintf("\nn=%d", int($5)) : '') : ''):(valid(3) ? (($3 - (68.83)) / (3.11) < 0.55 ? 0xffffff : 0x1a1a1a) : 0) with labels tc rgb variable
  unset multiplot
  set output
}
