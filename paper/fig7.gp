# fig7.gp: fig_lines figure drawn by analysis/ (figure.h) from fig7.dat beside it.
# Redraw in this directory with: gnuplot fig7.gp  (rewrites the .png and the .svg)
reset session
set encoding utf8
do for [term = 1:2] {
  reset
  if (term == 1) {
    set terminal pngcairo size 900,622 font 'DejaVu Sans,10' noenhanced
    set output 'fig7.png'
  } else {
    set terminal svg size 900,622 font 'DejaVu Sans,10' fontscale 1.333 noenhanced background '#ffffff'
    set output 'fig7.svg'
  }
  set border 3 lc rgb '#404040'
  set tics out nomirror textcolor rgb '#202020'
  set grid lt 1 lw 1 lc rgb '#e4e4e4'
  set key noautotitle Left reverse samplen 2.5 spacing 1.2 textcolor rgb '#202020'
  set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05
  set multiplot title 'Figure 7: top singular values of Enc(Text) − Enc(Code), one curve per model' font ',13'
  # panel: 'singular values of Enc(Text) − Enc(Code), mean over seeds'
  set title 'singular values of Enc(Text) − Enc(Code), mean over seeds' font ',11'
  set xlabel 'index'
  set ylabel 'singular value'
  unset logscale
  set logscale y
  set xtics autofreq
  set ytics autofreq
  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix
  unset label 1
  set lmargin at screen 0.0933; set rmargin at screen 0.9689
  set tmargin at screen 0.8714; set bmargin at screen 0.1801
  set key at screen 0.5311, 0.0804 center top vertical maxrows 2
  plot 'fig7.dat' index 0 using 1:2 with lines lw 2 lc rgb '#0072B2' dt 1 title 'NTP', \
       'fig7.dat' index 1 using 1:2 with lines lw 2 lc rgb '#D55E00' dt 1 title 'LLM-JEPA k = 0', \
       'fig7.dat' index 2 using 1:2 with lines lw 2 lc rgb '#009E73' dt 1 title 'LLM-JEPA k = 1', \
       'fig7.dat' index 3 using 1:2 with lines lw 2 lc rgb '#CC79A7' dt 1 title 'base (the shipped pretrained base)'
  unset multiplot
  set output
}
