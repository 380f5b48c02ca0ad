# fig4.gp: fig_lines figure drawn by analysis/ (figure.h) from fig4.dat beside it.
# Redraw in this directory with: gnuplot fig4.gp  (rewrites the .png and the .svg)
reset session
set encoding utf8
do for [term = 1:2] {
  reset
  if (term == 1) {
    set terminal pngcairo size 960,622 font 'DejaVu Sans,10' noenhanced
    set output 'fig4.png'
  } else {
    set terminal svg size 960,622 font 'DejaVu Sans,10' fontscale 1.333 noenhanced background '#ffffff'
    set output 'fig4.svg'
  }
  set border 3 lc rgb '#404040'
  set tics out nomirror textcolor rgb '#202020'
  set grid lt 1 lw 1 lc rgb '#e4e4e4'
  set key noautotitle Left reverse samplen 2.5 spacing 1.2 textcolor rgb '#202020'
  set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05
  set multiplot title 'Figure 4: NTP loss and JEPA distance per step: NTP with the distance monitored (λ = 0) vs LLM-JEPA' font ',13'
  # panel: 'NTP loss, mean over seeds'
  set title 'NTP loss, mean over seeds' font ',11'
  set xlabel 'step'
  set ylabel 'NTP loss (nats per token)'
  unset logscale
  set xtics autofreq
  set ytics autofreq
  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix
  unset label 1
  set lmargin at screen 0.0875; set rmargin at screen 0.4708
  set tmargin at screen 0.8714; set bmargin at screen 0.1801
  set key at screen 0.2792, 0.0804 center top vertical maxrows 2
  plot 'fig4.dat' index 0 using 1:2 with lines lw 2 lc rgb '#0072B2' dt 1 title 'NTP (JEPA distance monitored, λ = 0)', \
       'fig4.dat' index 1 using 1:2 with lines lw 2 lc rgb '#D55E00' dt 1 title 'LLM-JEPA (λ = 1, k = 1)'
  # panel: 'JEPA distance, mean over seeds'
  set title 'JEPA distance, mean over seeds' font ',11'
  set xlabel 'step'
  set ylabel 'JEPA distance'
  unset logscale
  set xtics autofreq
  set ytics autofreq
  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix
  unset label 1
  set lmargin at screen 0.5875; set rmargin at screen 0.9708
  set tmargin at screen 0.8714; set bmargin at screen 0.1801
  set key at screen 0.7792, 0.0804 center top vertical maxrows 2
  plot 'fig4.dat' index 2 using 1:2 with lines lw 2 lc rgb '#0072B2' dt 1 title 'NTP (JEPA distance monitored, λ = 0)', \
       'fig4.dat' index 3 using 1:2 with lines lw 2 lc rgb '#D55E00' dt 1 title 'LLM-JEPA (λ = 1, k = 1)'
  unset multiplot
  set output
}
