# fig6.gp: fig_scatter figure drawn by analysis/ (figure.h) from fig6.dat beside it.
# Redraw in this directory with: gnuplot fig6.gp  (rewrites the .png and the .svg)
reset session
set encoding utf8
do for [term = 1:2] {
  reset
  if (term == 1) {
    set terminal pngcairo size 2088,596 font 'DejaVu Sans,10' noenhanced
    set output 'fig6.png'
  } else {
    set terminal svg size 2088,596 font 'DejaVu Sans,10' fontscale 1.333 noenhanced background '#ffffff'
    set output 'fig6.svg'
  }
  set border 3 lc rgb '#404040'
  set tics out nomirror textcolor rgb '#202020'
  set grid lt 1 lw 1 lc rgb '#e4e4e4'
  set key noautotitle Left reverse samplen 2.5 spacing 1.2 textcolor rgb '#202020'
  set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05
  set multiplot title 'Figure 6: t-SNE of Enc(Text) and Enc(Code), one panel per model (seed 82)' font ',13'
  set offsets graph 0.03, graph 0.03, graph 0.03, graph 0.03
  # panel: 'NTP'
  set title 'NTP' font ',11'
  unset xtics; unset ytics; unset grid; set border 15 lc rgb '#b0b0b0'
  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix
  unset label 1
  set key at screen 0.5, 0.9195 center top vertical maxrows 1
  set lmargin at screen 0.0125; set rmargin at screen 0.2375
  set tmargin at screen 0.8255; set bmargin at screen 0.0369
  plot 'fig6.dat' index 0 using 1:2 with points pt 7 ps 0.5 lc rgb '#330072B2' notitle, \
       'fig6.dat' index 1 using 1:2 with points pt 7 ps 0.5 lc rgb '#33D55E00' notitle, \
       NaN with points pt 7 ps 1.5 lc rgb '#0072B2' title 'Enc(Text)', \
       NaN with points pt 7 ps 1.5 lc rgb '#D55E00' title 'Enc(Code)'
  # panel: 'LLM-JEPA k = 0'
  set title 'LLM-JEPA k = 0' font ',11'
  unset xtics; unset ytics; unset grid; set border 15 lc rgb '#b0b0b0'
  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix
  unset label 1
  unset key
  set lmargin at screen 0.2625; set rmargin at screen 0.4875
  set tmargin at screen 0.8255; set bmargin at screen 0.0369
  plot 'fig6.dat' index 2 using 1:2 with points pt 7 ps 0.5 lc rgb '#330072B2' notitle, \
       'fig6.dat' index 3 using 1:2 with points pt 7 ps 0.5 lc rgb '#33D55E00' notitle
  # panel: 'LLM-JEPA k = 1'
  set title 'LLM-JEPA k = 1' font ',11'
  unset xtics; unset ytics; unset grid; set border 15 lc rgb '#b0b0b0'
  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix
  unset label 1
  unset key
  set lmargin at screen 0.5125; set rmargin at screen 0.7375
  set tmargin at screen 0.8255; set bmargin at screen 0.0369
  plot 'fig6.dat' index 4 using 1:2 with points pt 7 ps 0.5 lc rgb '#330072B2' notitle, \
       'fig6.dat' index 5 using 1:2 with points pt 7 ps 0.5 lc rgb '#33D55E00' notitle
  # panel: 'base (the shipped pretrained base)'
  set title 'base (the shipped pretrained base)' font ',11'
  unset xtics; unset ytics; unset grid; set border 15 lc rgb '#b0b0b0'
  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix
  unset label 1
  unset key
  set lmargin at screen 0.7625; set rmargin at screen 0.9875
  set tmargin at screen 0.8255; set bmargin at screen 0.0369
  plot 'fig6.dat' index 6 using 1:2 with points pt 7 ps 0.5 lc rgb '#330072B2' notitle, \
       'fig6.dat' index 7 using 1:2 with points pt 7 ps 0.5 lc rgb '#33D55E00' notitle
  unset multiplot
  set output
}
