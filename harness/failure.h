/* Why a run failed, in words: a child's wait status and the last error line of its
 * log.txt (harness run prints it and records it in runs.csv's `error` column). */
#ifndef HARNESS_FAILURE_H
#define HARNESS_FAILURE_H

#include <stddef.h>

/* A wait status (waitpid) in words into out (size n): "exit status 2", "killed by
 * signal 9 (SIGKILL)", "killed by signal 11 (SIGSEGV), core dumped". */
void failure_wait_status(int status, char *out, size_t n);

/* The last line of the file at log_path (a run's log.txt) that reports an error: one
 * that holds "error", "assert", "fatal", "abort" or "cannot" in any case, without its
 * newline and surrounding blanks, into out (size n; longer lines are cut). Only the last
 * 64 KiB of the file are read. Returns 1 when found, 0 when the file has none or cannot
 * be read (out is then ""). */
int failure_last_error_line(const char *log_path, char *out, size_t n);

/* The reason of a failed run: failure_wait_status, then ": " and the last error line of
 * log_path when it has one, into out (size n). */
void failure_reason(int status, const char *log_path, char *out, size_t n);

#endif
