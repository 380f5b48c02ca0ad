#include "commands.h"
int cmd_run(int argc, char **argv, const char *self) { (void)argc; (void)argv; (void)self; return 2; }
int cmd_report(int argc, char **argv) { (void)argc; (void)argv; return 2; }
int cmd_loss(int argc, char **argv) { (void)argc; (void)argv; return 2; }
