/* A profiling backend: wraps another backend and accumulates the wall time
 * and call count of every op and memory function, so a benchmark can report
 * the share of time per op without touching the model code. Timing is
 * host-side around each call: exact for the CPU backends; on an asynchronous
 * device it charges queued work to whichever call waits for it (download).
 * One global set of counters, not thread-safe. */
#ifndef ENGINE_BACKEND_PROF_H
#define ENGINE_BACKEND_PROF_H

#include <stdio.h>

#include "backend.h"

/* inner with timing around every call; the same wrapper for the same inner
 * (up to 8 distinct inners; NULL beyond). Its name is "prof:" + inner's. */
Backend *backend_profiled(Backend *inner);
/* Zero the counters. */
void backend_prof_reset(void);
/* Markdown table of op, calls, seconds and share of the total, slowest first. */
void backend_prof_print(FILE *f);
/* Seconds spent in wrapped calls since the last reset. */
double backend_prof_total(void);

#endif
