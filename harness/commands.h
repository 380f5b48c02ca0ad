/* The harness subcommands. Each returns the process exit code:
 * 0 success, 1 error (message printed to stderr), 2 usage error,
 * 3 (train) the run diverged and was recorded. */
#ifndef HARNESS_COMMANDS_H
#define HARNESS_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_run(int argc, char **argv, const char *self);
int cmd_report(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_paper(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_slurm(int argc, char **argv);
int cmd_rescore(int argc, char **argv);

#endif
