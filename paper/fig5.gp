# fig5.gp: fig_lines figure drawn by analysis/ (figure.h) from fig5.dat beside it.
# Redraw in this directory with: gnuplot fig5.gp  (rewrites the .png and the .svg)
reset session
set encoding utf8
do for [term = 1:2] {
  reset
  if (term == 1) {
    set terminal pngcairo size 900,604 font 'DejaVu Sans,10' noenhanced
    set output 'fig5.png'
  } else {
    set terminal svg size 900,604 font 'DejaVu Sans,10' fontscale 1.333 noenhanced background '#ffffff'
    set output 'fig5.svg'
  }
  set border 3 lc rgb '#404040'
  set tics out nomirror textcolor rgb '#202020'
  set grid lt 1 lw 1 lc rgb '#e4e4e4'
  set key noautotitle Left reverse samplen 2.5 spacing 1.2 textcolor rgb '#202020'
  set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05
  set multiplot title 'Figure 5: accuracy per epoch (first 200 test examples; the last epoch: the whole test split), NTP vs LLM-JEPA' font ',13'
  # panel: 'accuracy after each epoch'
  set title 'accuracy after each epoch' font ',11'
  set xlabel 'epoch'
  set ylabel 'acc_exact (%), mean ± sd over seeds'
  unset logscale
  set xtics 1
  set ytics autofreq
  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix
  unset label 1
  set lmargin at screen 0.0933; set rmargin at screen 0.9689
  set tmargin at screen 0.8675; set bmargin at screen 0.1556
  set key at screen 0.5311, 0.0530 center top vertical maxrows 1
  plot 'fig5.dat' index 0 using 1:2:3 with yerrorlines lw 1.5 pt 7 ps 0.6 lc rgb '#0072B2' dt 1 title 'NTP (JEPA distance monitored, λ = 0)', \
       'fig5.dat' index 1 using 1:2:3 with yerrorlines lw 1.5 pt 7 ps 0.6 lc rgb '#D55E00' dt 1 title 'LLM-JEPA (λ = 1, k = 1)'
  unset multiplot
  set output
}
