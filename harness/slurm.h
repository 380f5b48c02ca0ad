/* SLURM for harness slurm and harness status: the sbatch array script that
 * runs a grid's slices into one results store, and running SLURM's programs
 * (sbatch, squeue) with their output captured. */
#ifndef HARNESS_SLURM_H
#define HARNESS_SLURM_H

#include <stddef.h>

typedef struct SlurmOpts {
    const char *grid_path;  /* as given; resolved from workdir by the job */
    const char *grid_name;  /* the grid's name: the job is "harness-<name>" */
    const char *results;    /* results root (absolute) */
    const char *harness;    /* the harness executable (absolute) */
    const char *workdir;    /* the job's working directory (absolute): data/, models/ resolve there */
    const char *partition;  /* NULL or "": the cluster's default */
    const char *time_limit; /* NULL or "": the partition's default; else sbatch --time (e.g. 2:00:00) */
    int tasks;              /* array tasks, >= 1 */
    int cpus_per_task;      /* >= 1 */
} SlurmOpts;

/* The sbatch script of o into buf (size n): #SBATCH lines (job name
 * harness-<grid>, --array=0-(tasks-1), --cpus-per-task, --output to
 * <results>/<grid>/slurm/%A_%a.out, partition and time when set), then `cd
 * workdir` and `harness run GRID --results RESULTS -j 1 --slice
 * $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT` (every path single-quoted).
 * Returns 0, or -1 with err when it does not fit, or a value holds a
 * character a script or sbatch cannot carry (a quote, a newline, a
 * partition or time with blanks). */
int slurm_script(const SlurmOpts *o, char *buf, size_t n, char *err, size_t errn);

/* The absolute path of program name found in $PATH into out (size n).
 * Returns 0, or -1 when it is not there (or not executable). */
int slurm_find(const char *name, char *out, size_t n);

/* Run argv (argv[0] an absolute path) with stdin /dev/null, its stdout into
 * out (size outn) and its stderr into errtxt (size errtxtn), both NUL-terminated
 * and cut at the buffer's size, trailing newlines removed. *status = its exit code
 * (128 + signal when killed). Returns 0 when it ran, -1 with errno when it
 * could not be started. */
int slurm_capture(char *const argv[], char *out, size_t outn, char *errtxt, size_t errtxtn, int *status);

#endif
