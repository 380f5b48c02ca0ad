/* Provenance of a run (harness/provenance.c) and failure reasons (harness/failure.c). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "failure.h"
#include "provenance.h"
#include "version.h"
#include "cpuinfo.h"

Test(provenance, quoting_the_command_line) {
    char out[256];
    char *argv[] = {"/usr/bin/harness", "train", "lora_targets=q,k,v", "init=/a dir/x", "it's", "", "a$b", NULL};
    provenance_quote_argv(7, argv, out, sizeof out);
    cr_expect_str_eq(out, "/usr/bin/harness train lora_targets=q,k,v 'init=/a dir/x' 'it'\\''s' '' 'a$b'");
    /* what sh makes of it is argv again */
    char cmd[600], back[256] = "";
    snprintf(cmd, sizeof cmd, "sh -c 'printf \"%%s|\" \"$@\"' %s", out + strlen("/usr/bin/harness "));
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(back, 1, sizeof back - 1, p);
    back[n] = 0;
    pclose(p);
    cr_expect_str_eq(back, "lora_targets=q,k,v|init=/a dir/x|it's||a$b|");
    char small[16];
    provenance_quote_argv(7, argv, small, sizeof small);
    cr_expect(strlen(small) < sizeof small && strstr(small, "...") != NULL, "truncated: %s", small);
}

Test(provenance, fields_of_this_process) {
    Provenance *p = malloc(sizeof *p);
    provenance_get(p);
    char model[256];
    cpu_model_name(model, sizeof model);
    cr_expect_str_eq(p->cpu_model, model);
    cr_expect(!strncmp(p->compiler, "gcc ", 4) || !strncmp(p->compiler, "clang ", 6), "compiler '%s'", p->compiler);
    cr_expect_neq(strlen(p->compiler_flags), 0);
    cr_expect(!strncmp(p->blas, "OpenBLAS ", 9), "blas '%s'", p->blas);
    cr_expect_neq(strlen(p->blas_core), 0);
    cr_expect(strstr(p->blas, p->blas_core) != NULL, "the core type is part of the config: %s / %s", p->blas,
              p->blas_core);
    cr_expect_str_eq(p->engine_version, HARNESS_VERSION);
    char argv0[256] = "";
    FILE *f = fopen("/proc/self/cmdline", "rb");
    cr_assert_not_null(f);
    cr_assert(fread(argv0, 1, sizeof argv0 - 1, f) > 0);
    fclose(f);
    cr_expect(argv0[0] && !strncmp(p->command_line, argv0, strlen(argv0)), "command line '%s' (argv[0] '%s')",
              p->command_line, argv0);
    free(p);
}

Test(failure, wait_status_in_words) {
    char b[128];
    failure_wait_status(2 << 8, b, sizeof b); /* exited with 2 */
    cr_expect_str_eq(b, "exit status 2");
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGKILL);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    failure_wait_status(st, b, sizeof b);
    cr_expect_str_eq(b, "killed by signal 9 (SIGKILL)");
    pid = fork();
    if (pid == 0) {
        raise(SIGTERM);
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    failure_wait_status(st, b, sizeof b);
    cr_expect_str_eq(b, "killed by signal 15 (SIGTERM)");
}

Test(failure, last_error_line_of_the_log) {
    char dir[] = "/tmp/test_failure_XXXXXX", path[128], b[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/log.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("run abc -> x\nerror: first\nstep 1/10 ntp 2.0\n  error: data/x.jsonl:3: expected a JSON object  \n"
          "step 2/10 ntp 1.9\n", f);
    fclose(f);
    cr_expect_eq(failure_last_error_line(path, b, sizeof b), 1);
    cr_expect_str_eq(b, "error: data/x.jsonl:3: expected a JSON object");
    failure_reason(1 << 8, path, b, sizeof b);
    cr_expect_str_eq(b, "exit status 1: error: data/x.jsonl:3: expected a JSON object");
    f = fopen(path, "w");
    fputs("run abc -> x\nstep 1/10\n", f);
    fclose(f);
    cr_expect_eq(failure_last_error_line(path, b, sizeof b), 0);
    cr_expect_str_eq(b, "");
    failure_reason(1 << 8, path, b, sizeof b);
    cr_expect_str_eq(b, "exit status 1");
    failure_reason(1 << 8, "/nonexistent/log.txt", b, sizeof b);
    cr_expect_str_eq(b, "exit status 1");
    /* only the tail of a long log is read; a line longer than out is cut */
    f = fopen(path, "w");
    fputs("error: early\n", f);
    for (int i = 0; i < 20000; i++) fputs("step 1/10 ntp 2.0\n", f);
    fputs("harness: engine/x.c:1: f: Assertion `n > 0' failed.\n", f);
    fclose(f);
    char small[20];
    cr_expect_eq(failure_last_error_line(path, small, sizeof small), 1);
    cr_expect_str_eq(small, "harness: engine/x.c");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
