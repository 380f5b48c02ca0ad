/* A profiling backend: wraps another backend's op table and accumulates the
 * wall time and call count of every op, so a benchmark can report the share
 * of time per op without touching the model code. Not thread-safe across
 * concurrent models (one global set of counters). */
#ifndef ENGINE_BACKEND_PROF_H
#define ENGINE_BACKEND_PROF_H

#include <stdio.h>

#include "backend.h"

/* The op table of inner with timing around every op. */
const Backend *backend_profiled(const Backend *inner);
/* Zero the counters. */
void backend_prof_reset(void);
/* Print op, calls, seconds and share of the total, slowest first. */
void backend_prof_print(FILE *f);
/* Seconds spent in ops since the last reset. */
double backend_prof_total(void);

#endif
